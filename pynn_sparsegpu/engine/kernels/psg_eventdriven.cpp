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
// each call from the state, O(N)); pending deliveries in a binary min-heap keyed (time, target, seq) that lives
// in a Python-owned array and persists between calls; the sources' spikes in one array sorted by (time, index)
// read through a cursor.

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#define PSG_ED_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

const double INF = std::numeric_limits<double>::infinity();

struct Delivery {       // numpy dtype [('t', f8), ('seq', i8), ('w', f8), ('target', i4), ('pad', i4)]
    double t;
    int64_t seq;
    double w;
    int32_t target;
    int32_t pad;
};

inline bool delivery_less(const Delivery& a, const Delivery& b) {
    if (a.t != b.t) return a.t < b.t;
    if (a.target != b.target) return a.target < b.target;
    return a.seq < b.seq;
}

struct DeliveryHeap {
    Delivery* q;
    int64_t n;

    void push(const Delivery& d) {
        int64_t i = n++;
        while (i > 0) {
            int64_t parent = (i - 1) >> 1;
            if (!delivery_less(d, q[parent])) break;
            q[i] = q[parent];
            i = parent;
        }
        q[i] = d;
    }

    Delivery pop() {
        Delivery top = q[0];
        Delivery last = q[--n];
        int64_t i = 0;
        for (;;) {
            int64_t c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && delivery_less(q[c + 1], q[c])) ++c;
            if (!delivery_less(q[c], last)) break;
            q[i] = q[c];
            i = c;
        }
        if (n > 0) q[i] = last;
        return top;
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

}  // namespace

// counters: [0] source cursor, [1] delivery heap size, [2] next delivery sequence number,
//           [3] next sample index, [4] spikes written, [5] samples written
// Returns 0 when every event at time <= until is done and the samples up to last_sample are written (the
// caller then sets its clock to until); 1 when the spike buffer is full, 2 when the delivery heap may not hold
// the next event's pushes (the caller grows the buffer and calls again: the call resumes exactly).
PSG_ED_EXPORT int psg_ed_run(
    int64_t n_cells,
    const double* tau_m, const double* v_inf, const double* v_thresh, const double* v_reset,
    const double* tau_refrac,
    double* t_free, double* v_free, double* t_spike,
    const int64_t* row_ptr, const int32_t* syn_post, const double* syn_w, const double* syn_d,
    int64_t max_row,
    const double* src_time, const int32_t* src_id, int64_t n_src_spikes,
    Delivery* queue, int64_t queue_cap,
    const int32_t* rec_idx, int64_t n_rec, double interval, int64_t last_sample, double* samples,
    int32_t* spk_id, double* spk_time, int64_t spk_cap,
    int64_t* counters, double until) {
    std::vector<double> next_t(static_cast<size_t>(n_cells));
    for (int64_t j = 0; j < n_cells; ++j)
        next_t[j] = next_spike_time(t_free[j], v_free[j], t_spike[j], tau_m[j], v_inf[j], v_thresh[j]);
    CellHeap cells;
    cells.build(n_cells, next_t.data());
    DeliveryHeap dq{queue, counters[1]};
    int64_t cursor = counters[0];
    int64_t seq = counters[2];
    int64_t sample = counters[3];
    int64_t n_spk = counters[4];
    int64_t n_samples = counters[5];
    int status = 0;

    auto write_sample = [&](double ts) {
        double* row = samples + n_samples * n_rec;
        for (int64_t r = 0; r < n_rec; ++r) {
            int32_t j = rec_idx[r];
            row[r] = voltage_at(ts, t_free[j], v_free[j], tau_m[j], v_inf[j], v_reset[j]);
        }
        ++n_samples;
    };
    auto emit = [&](int32_t i, double t) {
        spk_id[n_spk] = i;
        spk_time[n_spk] = t;
        ++n_spk;
        for (int64_t k = row_ptr[i]; k < row_ptr[i + 1]; ++k)
            dq.push(Delivery{t + syn_d[k], seq++, syn_w[k], syn_post[k], 0});
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
        double tq = dq.n > 0 ? dq.q[0].t : INF;
        double t = ts < tsrc ? ts : tsrc;
        if (tq < t) t = tq;
        if (!(t <= until)) break;
        while (sample <= last_sample && static_cast<double>(sample) * interval < t) {
            write_sample(static_cast<double>(sample) * interval);
            ++sample;
        }
        if (n_spk >= spk_cap) { status = 1; break; }
        if (queue_cap - dq.n < max_row) { status = 2; break; }
        if (ts <= tsrc && ts <= tq) {                       // spontaneous threshold crossing
            fire(cells.heap[0], ts);
        } else if (tsrc <= tq) {                            // a source's spike
            int32_t s = src_id[cursor];
            ++cursor;
            emit(s, tsrc);
        } else {                                            // deliveries: all of (tq, target) summed
            Delivery d = dq.pop();
            int32_t j = d.target;
            double wsum = d.w;
            while (dq.n > 0 && dq.q[0].t == tq && dq.q[0].target == j) wsum += dq.pop().w;
            if (tq >= t_free[j] && tq > t_spike[j]) {       // else refractory: discarded
                double v = voltage_at(tq, t_free[j], v_free[j], tau_m[j], v_inf[j], v_reset[j]) + wsum;
                t_free[j] = tq;
                v_free[j] = v;
                if (v >= v_thresh[j]) {
                    fire(j, tq);
                } else {
                    next_t[j] = next_spike_time(t_free[j], v_free[j], t_spike[j], tau_m[j], v_inf[j],
                                                v_thresh[j]);
                    cells.update(j);
                }
            }
        }
    }
    if (status == 0) {
        while (sample <= last_sample) {
            write_sample(static_cast<double>(sample) * interval);
            ++sample;
        }
    }
    counters[0] = cursor;
    counters[1] = dq.n;
    counters[2] = seq;
    counters[3] = sample;
    counters[4] = n_spk;
    counters[5] = n_samples;
    return status;
}
