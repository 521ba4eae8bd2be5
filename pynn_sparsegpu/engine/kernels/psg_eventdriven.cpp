// Exact event-driven simulation of delta-synapse LIF networks (SparseProp's event loop), sequential, CPU.
//
// Not a kernel of the clock-driven engine: program.py and cuda.py gather psg_*.cu and psg_driver.cpp, and this
// file (psg_eventdriven.cpp) is neither; engine/eventdriven/compiled.py builds it alone.
//
// Model, conventions and the event order are documented in engine/eventdriven/__init__.py; reference.py is the
// same loop in Python (the test oracle) and must stay operation-for-operation identical to this file (same
// expressions, same order of floating-point operations), so that the two agree bit for bit.
//
// LIF cell j is one 64-byte record (a NumPy structured array owned by Python, updated in place, so that an
// input touches one cache line of its target): its state
//   t_free, v_free  the cell evolves freely from V = v_free at t = t_free
//                   (t_free > now: refractory until t_free, V clamped to v_reset)
//   t_spike         time of its last spike (-inf if none)
// and its parameters tau_m, v_inf, v_thresh, v_reset, tau_refrac.
// V(t) = v_free + (v_free - v_inf) expm1(-(t - t_free)/tau_m) for t >= t_free.
//
// Queues: the cells' next spontaneous spike times in an indexed 4-ary min-heap keyed (time, cell) (rebuilt at
// each call from the state, O(N)); pending arrivals in a binary min-heap keyed (time, seq), one entry per spike
// and distinct delay of its row (a segment of synapses), kept in an Engine object between calls; the sources'
// spikes in one array sorted by (time, index), read through a cursor.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

#define PSG_ED_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

const double INF = std::numeric_limits<double>::infinity();
const int64_t PREFETCH = 16;      // synapses ahead whose target record is prefetched

// A spike's arrivals through one segment (its synapses of one delay), due at t; seq: creation number.
struct Arrival {
    double t;
    int64_t seq;
    int64_t seg;
};

struct ArrivalLater {      // min-heap order (t, seq) with std::push_heap / std::pop_heap
    bool operator()(const Arrival& a, const Arrival& b) const {
        return a.t != b.t ? a.t > b.t : a.seq > b.seq;
    }
};

// numpy dtype CELL_DTYPE in engine/eventdriven/network.py (same fields, same order)
struct Cell {
    double t_free, v_free, t_spike, tau_m, v_inf, v_thresh, v_reset, tau_refrac;
};
static_assert(sizeof(Cell) == 64, "Cell must match CELL_DTYPE");

// Indexed ARITY-ary min-heap of cells keyed (next spike time, cell) (ARITY 4: the children of node i are
// 4i+1 .. 4i+4, one 64-byte cache line, so that a sift down reads one line per level, half as many levels as a
// binary heap). Keys are stored in the nodes so that sifting reads the heap array only. The heap order is total
// (ties broken by the cell index), so its top, and with it the simulation, does not depend on the heap's shape.
// slot[j]: the node position of cell j, and beside it (same 8 bytes) the mark "touched by the arrivals being
// processed", so that the loop over a segment's targets reads one prefetched line per target for both.
// (Raising keys lazily, refreshing only the top, was slower on the balanced inhibitory network: a raise by one
// input moves a node few levels.)
#ifndef PSG_ED_ARITY
#define PSG_ED_ARITY 4
#endif
struct CellHeap {
    static const int64_t D = PSG_ED_ARITY;
    struct Node {
        double key;
        int32_t cell;
        int32_t pad;
    };
    struct Slot {
        int32_t pos;
        int32_t touched;
    };
    std::vector<Node> storage;
    Node* heap = nullptr;          // heap + 1 is 64-byte aligned: every group of D children lies in one line
    int64_t n = 0;
    std::vector<Slot> slot;

    static bool less(const Node& a, const Node& b) {
        return a.key < b.key || (a.key == b.key && a.cell < b.cell);
    }
    void place(int64_t i, const Node& x) { heap[i] = x; slot[x.cell].pos = static_cast<int32_t>(i); }
    const Node& top() const { return heap[0]; }

    void sift_up(int64_t i, Node x) {
        while (i > 0) {
            int64_t parent = (i - 1) / D;
            if (!less(x, heap[parent])) break;
            place(i, heap[parent]);
            i = parent;
        }
        place(i, x);
    }
    void sift_down(int64_t i, Node x) {
        for (;;) {
            int64_t c = D * i + 1;
            if (c >= n) break;
            int64_t last = c + D < n ? c + D : n;
            int64_t m = c;
            for (int64_t k = c + 1; k < last; ++k)
                if (less(heap[k], heap[m])) m = k;
            if (!less(heap[m], x)) break;
            place(i, heap[m]);
            i = m;
        }
        place(i, x);
    }
    void build(const std::vector<double>& keys) {
        n = static_cast<int64_t>(keys.size());
        storage.resize(static_cast<size_t>(n + 8));
        uintptr_t base = reinterpret_cast<uintptr_t>(storage.data() + 1);
        uintptr_t aligned = (base + 63) & ~static_cast<uintptr_t>(63);
        heap = reinterpret_cast<Node*>(aligned) - 1;
        slot.assign(static_cast<size_t>(n), Slot{0, 0});
        for (int64_t j = 0; j < n; ++j) place(j, Node{keys[j], static_cast<int32_t>(j), 0});
        for (int64_t i = n > 1 ? (n - 2) / D : -1; i >= 0; --i) sift_down(i, heap[i]);
    }
    void update(int32_t j, double key) {       // the key of cell j becomes key
        int64_t i = slot[j].pos;
        Node x{key, j, 0};
        // a key that did not decrease can only move down (the parent is <= the old key), one that decreased
        // only up (the children are >= the old key): one direction is tested, not both
        if (key < heap[i].key) sift_up(i, x); else sift_down(i, x);
    }
};

inline double next_spike_time(const Cell& c) {
    double t;
    if (c.v_free >= c.v_thresh) {
        t = c.t_free;
    } else if (c.v_inf > c.v_thresh) {
        t = c.t_free + c.tau_m * std::log((c.v_inf - c.v_free) / (c.v_inf - c.v_thresh));
    } else {
        return INF;
    }
    if (!(t > c.t_spike)) t = std::nextafter(c.t_spike, INF);   // never twice at one time
    return t;
}

inline double voltage_at(double t, const Cell& c) {
    if (t < c.t_free) return c.v_reset;
    return c.v_free + (c.v_free - c.v_inf) * std::expm1(-(t - c.t_free) / c.tau_m);
}

// What persists between calls besides the Python-owned arrays: the pending arrivals and the spikes of the
// last call (read out by psg_ed_take_spikes).
struct Engine {
    std::vector<Arrival> queue;
    std::vector<int32_t> spk_id;
    std::vector<double> spk_time;
    std::vector<int32_t> touched_list;
};

}  // namespace

PSG_ED_EXPORT void* psg_ed_create() { return new Engine(); }
PSG_ED_EXPORT void psg_ed_destroy(void* h) { delete static_cast<Engine*>(h); }
PSG_ED_EXPORT int64_t psg_ed_pending(void* h) {
    return static_cast<int64_t>(static_cast<Engine*>(h)->queue.size());
}
PSG_ED_EXPORT int64_t psg_ed_spike_count(void* h) {
    return static_cast<int64_t>(static_cast<Engine*>(h)->spk_id.size());
}

// The pending arrivals, copied (the queue is unchanged): the heap's array as it is, of psg_ed_pending entries.
PSG_ED_EXPORT void psg_ed_peek_queue(void* h, double* t, int64_t* seq, int64_t* seg) {
    const std::vector<Arrival>& q = static_cast<Engine*>(h)->queue;
    for (size_t i = 0; i < q.size(); ++i) {
        t[i] = q[i].t;
        seq[i] = q[i].seq;
        seg[i] = q[i].seg;
    }
}

// Replace the pending arrivals by n given ones, in any order (they are arranged into a heap; its order, (t, seq),
// is total, so the arrivals are taken in the same order whatever the arrangement).
PSG_ED_EXPORT void psg_ed_put_queue(void* h, int64_t n, const double* t, const int64_t* seq, const int64_t* seg) {
    std::vector<Arrival>& q = static_cast<Engine*>(h)->queue;
    q.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) q[i] = Arrival{t[i], seq[i], seg[i]};
    std::make_heap(q.begin(), q.end(), ArrivalLater());
}

PSG_ED_EXPORT void psg_ed_take_spikes(void* h, int32_t* ids, double* times) {
    Engine* e = static_cast<Engine*>(h);
    std::copy(e->spk_id.begin(), e->spk_id.end(), ids);
    std::copy(e->spk_time.begin(), e->spk_time.end(), times);
    e->spk_id.clear();
    e->spk_time.clear();
}

// counters: [0] source cursor, [1] next arrival sequence number, [2] next sample index, [3] samples written.
// Does every event at time <= until and writes the samples up to index last_sample (the caller then sets its
// clock to until). Synapses are sorted by (pre, delay); row_seg[i] .. row_seg[i+1] are the segments of row i,
// segment s spans synapses seg_ptr[s] .. seg_ptr[s+1] with delay seg_delay[s].
PSG_ED_EXPORT void psg_ed_run(
    void* handle, int64_t n_cells, Cell* cell,
    const int64_t* row_seg, const int64_t* seg_ptr, const double* seg_delay,
    const int32_t* syn_post, const double* syn_w,
    const double* src_time, const int32_t* src_id, int64_t n_src_spikes,
    const int32_t* rec_idx, int64_t n_rec, double interval, int64_t last_sample, double* samples,
    int64_t* counters, double until) {
    Engine& eng = *static_cast<Engine*>(handle);
    std::vector<double> keys(static_cast<size_t>(n_cells));
    for (int64_t j = 0; j < n_cells; ++j) keys[j] = next_spike_time(cell[j]);
    CellHeap cells;
    cells.build(keys);
    std::vector<double>().swap(keys);
    eng.touched_list.resize(static_cast<size_t>(n_cells));
    std::vector<Arrival>& q = eng.queue;
    int64_t cursor = counters[0];
    int64_t seq = counters[1];
    int64_t sample = counters[2];
    int64_t n_samples = counters[3];

    auto write_sample = [&](double ts) {
        double* row = samples + n_samples * n_rec;
        for (int64_t r = 0; r < n_rec; ++r) {
            int32_t j = rec_idx[r];
            row[r] = voltage_at(ts, cell[j]);
        }
        ++n_samples;
    };
    auto emit = [&](int32_t i, double t) {
        eng.spk_id.push_back(i);
        eng.spk_time.push_back(t);
        for (int64_t s = row_seg[i]; s < row_seg[i + 1]; ++s) {
            q.push_back(Arrival{t + seg_delay[s], seq++, s});
            std::push_heap(q.begin(), q.end(), ArrivalLater());
        }
    };
    auto fire = [&](int32_t j, double t) {
        Cell& c = cell[j];
        c.t_spike = t;
        c.t_free = t + c.tau_refrac;
        c.v_free = c.v_reset;
        emit(j, t);
        cells.update(j, next_spike_time(c));
    };

    for (;;) {
        double ts = n_cells > 0 ? cells.top().key : INF;
        double tsrc = cursor < n_src_spikes ? src_time[cursor] : INF;
        double tq = q.empty() ? INF : q.front().t;
        double t = ts < tsrc ? ts : tsrc;
        if (tq < t) t = tq;
        if (!(t <= until)) break;
        while (sample <= last_sample && static_cast<double>(sample) * interval < t) {
            write_sample(static_cast<double>(sample) * interval);
            ++sample;
        }
        if (ts <= tsrc && ts <= tq) {                       // spontaneous threshold crossing
            fire(cells.top().cell, ts);
        } else if (tsrc <= tq) {                            // a source's spike
            int32_t s = src_id[cursor];
            ++cursor;
            emit(s, tsrc);
        } else {
            // every arrival at tq: first all weights are added (in (seq, synapse) order), then each cell
            // touched is tested once against its threshold
            int64_t n_touched = 0;
            while (!q.empty() && q.front().t == tq) {
                int64_t seg = q.front().seg;
                std::pop_heap(q.begin(), q.end(), ArrivalLater());
                q.pop_back();
                const int64_t k_end = seg_ptr[seg + 1];
                for (int64_t k = seg_ptr[seg]; k < k_end; ++k) {
                    if (k + PREFETCH < k_end) {
                        __builtin_prefetch(&cell[syn_post[k + PREFETCH]], 1);
                        __builtin_prefetch(&cells.slot[syn_post[k + PREFETCH]], 1);
                    }
                    int32_t j = syn_post[k];
                    Cell& c = cell[j];
                    if (tq >= c.t_free && tq > c.t_spike) {     // else refractory: discarded
                        if (c.t_free != tq) {
                            c.v_free = voltage_at(tq, c);
                            c.t_free = tq;
                        }
                        c.v_free += syn_w[k];
                        if (!cells.slot[j].touched) {
                            cells.slot[j].touched = 1;
                            eng.touched_list[n_touched++] = j;
                        }
                    }
                }
            }
            for (int64_t r = 0; r < n_touched; ++r) {
                if (r + PREFETCH < n_touched) {       // the node, its children and grandchildren
                    int64_t i = cells.slot[eng.touched_list[r + PREFETCH]].pos;
                    __builtin_prefetch(&cells.heap[i], 1);
                    if (CellHeap::D * i + 1 < cells.n) __builtin_prefetch(&cells.heap[CellHeap::D * i + 1], 1);
                    for (int64_t g = 0; g < CellHeap::D; ++g) {
                        int64_t gc = CellHeap::D * (CellHeap::D * i + 1 + g) + 1;
                        if (gc < cells.n) __builtin_prefetch(&cells.heap[gc], 0);
                    }
                }
                int32_t j = eng.touched_list[r];
                cells.slot[j].touched = 0;
                if (cell[j].v_free >= cell[j].v_thresh) {
                    fire(j, tq);
                } else {
                    cells.update(j, next_spike_time(cell[j]));
                }
            }
        }
    }
    while (sample <= last_sample) {
        write_sample(static_cast<double>(sample) * interval);
        ++sample;
    }
    counters[0] = cursor;
    counters[1] = seq;
    counters[2] = sample;
    counters[3] = n_samples;
}
