// Exact event-driven simulation of delta-synapse LIF networks (SparseProp's event loop), sequential, CPU.
//
// Not a kernel of the clock-driven engine: program.py and cuda.py gather psg_*.cu and psg_driver.cpp, and this
// file (psg_eventdriven.cpp) is neither; engine/eventdriven/compiled.py builds it alone.
//
// Model, conventions and the event order are documented in engine/eventdriven/__init__.py; reference.py is the
// same loop in Python (the test oracle) and must stay operation-for-operation identical to this file (same
// expressions, same order of floating-point operations), so that the two agree bit for bit.
//
// State of LIF cell j (arrays owned by Python, updated in place):
//   t_free[j], v_free[j]  the cell evolves freely from V = v_free[j] at t = t_free[j]
//                         (t_free[j] > now: refractory until t_free[j], V clamped to v_reset)
//   t_spike[j]            time of its last spike (-inf if none)
// V(t) = v_free + (v_free - v_inf) expm1(-(t - t_free)/tau_m) for t >= t_free.
//
// Queues: the cells' next spontaneous spike times in an indexed binary min-heap keyed (time, cell) (rebuilt at
// each call from the state, O(N)); pending arrivals in a binary min-heap keyed (time, seq), one entry per spike
// and distinct delay of its row (a segment of synapses), kept in an Engine object between calls; the sources'
// spikes in one array sorted by (time, index), read through a cursor.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#define PSG_ED_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

const double INF = std::numeric_limits<double>::infinity();

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

// Indexed min-heap of cells keyed (key[j], j).
struct CellHeap {
    std::vector<int32_t> heap;
    std::vector<int32_t> pos;
    const double* key;

    bool less(int32_t a, int32_t b) const {
        return key[a] < key[b] || (key[a] == key[b] && a < b);
    }
    void place(int64_t i, int32_t j) { heap[i] = j; pos[j] = static_cast<int32_t>(i); }

    void sift_up(int64_t i) {
        int32_t j = heap[i];
        while (i > 0) {
            int64_t parent = (i - 1) >> 1;
            if (!less(j, heap[parent])) break;
            place(i, heap[parent]);
            i = parent;
        }
        place(i, j);
    }
    void sift_down(int64_t i) {
        int64_t n = static_cast<int64_t>(heap.size());
        int32_t j = heap[i];
        for (;;) {
            int64_t c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && less(heap[c + 1], heap[c])) ++c;
            if (!less(heap[c], j)) break;
            place(i, heap[c]);
            i = c;
        }
        place(i, j);
    }
    void build(int64_t n_cells, const double* keys) {
        key = keys;
        heap.resize(n_cells);
        pos.resize(n_cells);
        for (int64_t j = 0; j < n_cells; ++j) place(j, static_cast<int32_t>(j));
        for (int64_t i = n_cells / 2 - 1; i >= 0; --i) sift_down(i);
    }
    void update(int32_t j) {       // key[j] changed
        int64_t i = pos[j];
        if (i > 0 && less(j, heap[(i - 1) >> 1])) sift_up(i); else sift_down(i);
    }
};

inline double next_spike_time(double t_free, double v_free, double t_spike, double tau, double v_inf,
                              double v_th) {
    double t;
    if (v_free >= v_th) {
        t = t_free;
    } else if (v_inf > v_th) {
        t = t_free + tau * std::log((v_inf - v_free) / (v_inf - v_th));
    } else {
        return INF;
    }
    if (!(t > t_spike)) t = std::nextafter(t_spike, INF);   // never twice at one time
    return t;
}

inline double voltage_at(double t, double t_free, double v_free, double tau, double v_inf, double v_reset) {
    if (t < t_free) return v_reset;
    return v_free + (v_free - v_inf) * std::expm1(-(t - t_free) / tau);
}

// What persists between calls besides the Python-owned arrays: the pending arrivals and the spikes of the
// last call (read out by psg_ed_take_spikes).
struct Engine {
    std::vector<Arrival> queue;
    std::vector<int32_t> spk_id;
    std::vector<double> spk_time;
    std::vector<char> touched;
    std::vector<int32_t> touched_list;
};

}  // namespace

PSG_ED_EXPORT void* psg_ed_create() { return new Engine(); }
PSG_ED_EXPORT void psg_ed_destroy(void* h) { delete static_cast<Engine*>(h); }
PSG_ED_EXPORT int64_t psg_ed_pending(void* h) { return static_cast<int64_t>(static_cast<Engine*>(h)->queue.size()); }
PSG_ED_EXPORT int64_t psg_ed_spike_count(void* h) { return static_cast<int64_t>(static_cast<Engine*>(h)->spk_id.size()); }

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
    void* handle, int64_t n_cells,
    const double* tau_m, const double* v_inf, const double* v_thresh, const double* v_reset,
    const double* tau_refrac,
    double* t_free, double* v_free, double* t_spike,
    const int64_t* row_seg, const int64_t* seg_ptr, const double* seg_delay,
    const int32_t* syn_post, const double* syn_w,
    const double* src_time, const int32_t* src_id, int64_t n_src_spikes,
    const int32_t* rec_idx, int64_t n_rec, double interval, int64_t last_sample, double* samples,
    int64_t* counters, double until) {
    Engine& eng = *static_cast<Engine*>(handle);
    std::vector<double> next_t(static_cast<size_t>(n_cells));
    for (int64_t j = 0; j < n_cells; ++j)
        next_t[j] = next_spike_time(t_free[j], v_free[j], t_spike[j], tau_m[j], v_inf[j], v_thresh[j]);
    CellHeap cells;
    cells.build(n_cells, next_t.data());
    eng.touched.assign(static_cast<size_t>(n_cells), 0);
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
            row[r] = voltage_at(ts, t_free[j], v_free[j], tau_m[j], v_inf[j], v_reset[j]);
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
        t_spike[j] = t;
        t_free[j] = t + tau_refrac[j];
        v_free[j] = v_reset[j];
        emit(j, t);
        next_t[j] = next_spike_time(t_free[j], v_free[j], t_spike[j], tau_m[j], v_inf[j], v_thresh[j]);
        cells.update(j);
    };

    for (;;) {
        double ts = n_cells > 0 ? next_t[cells.heap[0]] : INF;
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
            fire(cells.heap[0], ts);
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
                for (int64_t k = seg_ptr[seg]; k < seg_ptr[seg + 1]; ++k) {
                    int32_t j = syn_post[k];
                    if (tq >= t_free[j] && tq > t_spike[j]) {   // else refractory: discarded
                        if (t_free[j] != tq) {
                            v_free[j] = voltage_at(tq, t_free[j], v_free[j], tau_m[j], v_inf[j], v_reset[j]);
                            t_free[j] = tq;
                        }
                        v_free[j] += syn_w[k];
                        if (!eng.touched[j]) {
                            eng.touched[j] = 1;
                            eng.touched_list[n_touched++] = j;
                        }
                    }
                }
            }
            for (int64_t r = 0; r < n_touched; ++r) {
                int32_t j = eng.touched_list[r];
                eng.touched[j] = 0;
                if (v_free[j] >= v_thresh[j]) {
                    fire(j, tq);
                } else {
                    next_t[j] = next_spike_time(t_free[j], v_free[j], t_spike[j], tau_m[j], v_inf[j],
                                                v_thresh[j]);
                    cells.update(j);
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
