// Precise (off-grid) spike times on the time grid as kernels: the same steps as the CPU loop psg_offgrid.cpp,
// written for the clock-driven engine's drivers (a CUDA launch or graph per step on the GPU; the CPU build of
// the same kernels in tests). The cells' arithmetic is psg_offgrid.cuh; engine/offgrid/device.py launches them.
//
// Inputs on their way live in n_slots slots of `cap` entries (cap bounds what one slot can receive: every
// synapse of a cell once, as a cell fires at most once per step, plus the sources' spikes); the inputs of one
// slot for one target form a list (head[slot * n + target], then next[slot * cap + pos]), built with atomic
// exchanges while spikes are delivered, so that no sort by target is needed. A cell walks its list, copies its
// inputs (in arrival order) into a scratch region it reserves atomically, orders them by time, and does its step.
//
// One step: cells -> sources -> deliver -> finish (a run starts with `start`; `sample` takes the state now).
// Every kernel takes the same argument slots:
//    0 clock  1 n_cells  2 cells (psg_og_cell)  3 n_slots  4 cap  5 head [n_slots * n]  6 next  7 in_theta
//    8 in_w  9 in_rec  10 in_count [n_slots]  11 scratch_theta  12 scratch_w  13 scratch_rec  14 scratch_count
//   15 fire_id  16 fire_theta  17 fire_count  18 out_id  19 out_time  20 out_count (64-bit)  21 row_ptr
//   22 syn_post  23 syn_w  24 syn_delay  25 syn_rec  26 src_ptr (per step of the run)  27 src_id  28 src_theta
//   29 src_time  30 k0 (the run's first step)  31 h (real)  32 overflow  33 rec_idx  34 n_rec  35 interval
//   36 samples [rows, n_rec]  37 sample_base (sample index of row 0)  38 sample_rows  39 in_target

#include "psg_offgrid.cuh"

#define PSG_OG_ARGS                                                                                        \
    const long long k = *PSG_PTR(long long, a, 0);                                                          \
    const long long n = PSG_INT(a, 1);                                                                      \
    psg_og_cell* cells = PSG_PTR(psg_og_cell, a, 2);                                                        \
    const long long n_slots = PSG_INT(a, 3);                                                                \
    const long long cap = PSG_INT(a, 4);                                                                    \
    int* head = PSG_PTR(int, a, 5);                                                                         \
    int* next = PSG_PTR(int, a, 6);                                                                         \
    double* in_theta = PSG_PTR(double, a, 7);                                                               \
    double* in_w = PSG_PTR(double, a, 8);                                                                   \
    signed char* in_rec = PSG_PTR(signed char, a, 9);                                                       \
    int* in_count = PSG_PTR(int, a, 10);                                                                    \
    double* s_theta = PSG_PTR(double, a, 11);                                                               \
    double* s_w = PSG_PTR(double, a, 12);                                                                   \
    signed char* s_rec = PSG_PTR(signed char, a, 13);                                                       \
    int* s_count = PSG_PTR(int, a, 14);                                                                     \
    int* fire_id = PSG_PTR(int, a, 15);                                                                     \
    double* fire_theta = PSG_PTR(double, a, 16);                                                            \
    int* fire_count = PSG_PTR(int, a, 17);                                                                  \
    int* out_id = PSG_PTR(int, a, 18);                                                                      \
    double* out_time = PSG_PTR(double, a, 19);                                                              \
    long long* out_count = PSG_PTR(long long, a, 20);                                                       \
    const double h = PSG_REAL(a, 31);                                                                       \
    (void)n; (void)cells; (void)n_slots; (void)cap; (void)head; (void)next; (void)in_theta; (void)in_w;     \
    (void)in_rec; (void)in_count; (void)s_theta; (void)s_w; (void)s_rec; (void)s_count; (void)fire_id;       \
    (void)fire_theta; (void)fire_count; (void)out_id; (void)out_time; (void)out_count; (void)h; (void)k

PSG_FN void psg_og_emit(int* fire_id, double* fire_theta, int* fire_count, int* out_id, double* out_time,
                        long long* out_count, int id, double theta, double time)
{
    const int f = psg_atomic_inc(fire_count);
    fire_id[f] = id;
    fire_theta[f] = theta;
    const long long o = psg_atomic_add(out_count, 1LL);
    out_id[o] = id;
    out_time[o] = time;
}

// A run starts: a cell at or above threshold fires now (theta 0 of step k).
PSG_KERNEL void pynn_sparsegpu_offgrid_start(const psg_slot* PSG_RESTRICT a)
{
    PSG_OG_ARGS;
    PSG_FOR(j, n) {
        psg_og_cell& c = cells[j];
        if (c.refractory && c.free_step < k) c.refractory = 0;
        if (!c.refractory && c.u >= c.thr) {
            psg_og_fire(c, k, 0.0);
            psg_og_emit(fire_id, fire_theta, fire_count, out_id, out_time, out_count, (int)j, 0.0, (double)k * h);
        }
    }
}

// Every cell takes its inputs of step k in time order and does its step.
PSG_KERNEL void pynn_sparsegpu_offgrid_cells(const psg_slot* PSG_RESTRICT a)
{
    PSG_OG_ARGS;
    const long long slot = k % n_slots;
    int* hd = head + slot * n;
    const int* nx = next + slot * cap;
    PSG_FOR(j, n) {
        long long m = 0;
        for (int p = hd[j]; p >= 0; p = nx[p]) ++m;
        long long base = 0;
        if (m) {
            base = psg_atomic_add(s_count, (int)m);
            long long q = base + m - 1;             // the list runs from the latest input back: fill backwards
            for (int p = hd[j]; p >= 0; p = nx[p], --q) {
                s_theta[q] = in_theta[slot * cap + p];
                s_w[q] = in_w[slot * cap + p];
                s_rec[q] = in_rec[slot * cap + p];
            }
            hd[j] = -1;
            psg_og_sort(s_theta + base, s_w + base, s_rec + base, m);
        }
        double s;
        if (psg_og_cell_step(cells[j], k, h, s_theta + base, s_w + base, s_rec + base, m, &s)) {
            psg_og_emit(fire_id, fire_theta, fire_count, out_id, out_time, out_count, (int)j, s, (double)k * h + s);
        }
    }
}

// The sources' spikes of step k (those of the run are sorted by step; src_ptr[k - k0] is step k's first).
PSG_KERNEL void pynn_sparsegpu_offgrid_sources(const psg_slot* PSG_RESTRICT a)
{
    PSG_OG_ARGS;
    const long long* src_ptr = PSG_PTR(long long, a, 26);
    const int* src_id = PSG_PTR(int, a, 27);
    const double* src_theta = PSG_PTR(double, a, 28);
    const double* src_time = PSG_PTR(double, a, 29);
    const long long r = k - PSG_INT(a, 30);
    const long long lo = src_ptr[r];
    PSG_FOR(q, src_ptr[r + 1] - lo) {
        psg_og_emit(fire_id, fire_theta, fire_count, out_id, out_time, out_count, src_id[lo + q],
                    src_theta[lo + q], src_time[lo + q]);
    }
}

// Each spike of step k sends an input at its theta through every synapse of its row, into slot (k + delay).
PSG_KERNEL void pynn_sparsegpu_offgrid_deliver(const psg_slot* PSG_RESTRICT a)
{
    PSG_OG_ARGS;
    const long long* row_ptr = PSG_PTR(long long, a, 21);
    const int* syn_post = PSG_PTR(int, a, 22);
    const double* syn_w = PSG_PTR(double, a, 23);
    const int* syn_delay = PSG_PTR(int, a, 24);
    const signed char* syn_rec = PSG_PTR(signed char, a, 25);
    int* overflow = PSG_PTR(int, a, 32);
    int* in_target = PSG_PTR(int, a, 39);
    PSG_FOR_BLOCKS(f, *fire_count) {
        const int i = fire_id[f];
        const double theta = fire_theta[f];
        const long long lo = row_ptr[i];
        PSG_FOR_THREADS(q, row_ptr[i + 1] - lo) {
            const long long sq = lo + q;
            const long long slot = (k + syn_delay[sq]) % n_slots;
            const int pos = psg_atomic_inc(in_count + slot);
            if (pos < cap) {
                const long long at = slot * cap + pos;
                in_theta[at] = theta;
                in_w[at] = syn_w[sq];
                in_rec[at] = syn_rec[sq];
                in_target[at] = syn_post[sq];
                next[at] = psg_atomic_exch(head + slot * n + syn_post[sq], pos);
            } else {
                *overflow = 1;
            }
        }
    }
}

PSG_FN void psg_og_sample(const psg_slot* PSG_RESTRICT a, long long at_step)
{
    const psg_og_cell* cells = PSG_PTR(psg_og_cell, a, 2);
    const int* rec_idx = PSG_PTR(int, a, 33);
    const long long n_rec = PSG_INT(a, 34);
    const long long interval = PSG_INT(a, 35);
    double* samples = PSG_PTR(double, a, 36);
    const long long row = at_step / interval - PSG_INT(a, 37);
    if (n_rec == 0 || at_step % interval != 0 || row < 0 || row >= PSG_INT(a, 38)) return;
    PSG_FOR(r, n_rec) {
        const psg_og_cell& c = cells[rec_idx[r]];
        samples[row * n_rec + r] = c.u + c.v_rest;
    }
}

// The end of step k: the slot read is empty again, the spike list and scratch are cleared, and V is sampled
// when a sample time falls at the end of the step.
PSG_KERNEL void pynn_sparsegpu_offgrid_finish(const psg_slot* PSG_RESTRICT a)
{
    PSG_OG_ARGS;
    PSG_ONCE {
        in_count[k % n_slots] = 0;
        *fire_count = 0;
        *s_count = 0;
    }
    psg_og_sample(a, k + 1);
}

// V now (the start of step k), when a sample time falls there.
PSG_KERNEL void pynn_sparsegpu_offgrid_sample(const psg_slot* PSG_RESTRICT a)
{
    psg_og_sample(a, *PSG_PTR(long long, a, 0));
}
