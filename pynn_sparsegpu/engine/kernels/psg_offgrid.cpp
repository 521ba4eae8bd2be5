// The off-grid (precise) time-driven loop on the CPU: many steps of a network of precise LIF cells and spike
// sources in one call, sequential.
//
// Not a kernel of the clock-driven engine's core library (program.py gathers psg_*.cu and psg_driver.cpp);
// engine/offgrid/compiled.py builds this file alone. The cells' arithmetic is psg_offgrid.cuh, shared with the
// CUDA kernels (psg_offgrid.cu); engine/offgrid/reference.py is the same loop in Python.
//
// One step k:
//   1. the inputs due in step k (ring slot k % n_slots) are grouped by target, in arrival order (a stable
//      counting sort), and each target's inputs are ordered by theta (a stable insertion sort);
//   2. every cell does its step (psg_og_cell_step) and may fire once, at an exact theta;
//   3. the sources' spikes of step k (a list sorted by (step, theta, index) read through a cursor) and the
//      cells' spikes are delivered: a synapse with a delay of d steps puts an input at the same theta into slot
//      (k + d) % n_slots (d >= 1, so never into the slot being read);
//   4. V is sampled at the end of the step when a sample time falls there.
// With threads > 1 (and OpenMP) the cells' steps of 2. run on contiguous ranges of cells in parallel; each
// thread keeps its spikes, and they are joined in cell order, so results do not depend on the threads.
// The pending inputs live in an Engine object (C++ vectors) that persists between calls, so runs continue
// exactly; spikes found in a call are kept there until the caller takes them.

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "psg_offgrid.cuh"

#define PSG_OG_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

struct Input {
    double theta, w;
    int32_t target;
    int32_t rec;
};

struct Engine {
    std::vector<std::vector<Input>> ring;
    std::vector<int64_t> start;
    std::vector<double> th, ww;
    std::vector<signed char> rr;
    std::vector<double> ff;              // the inputs' superposition factors (psg_og_input_factors), in pairs
    std::vector<int32_t> spk_id;
    std::vector<double> spk_time;
    std::vector<int32_t> fire_id;        // the step's spikes to deliver (cells and sources)
    std::vector<double> fire_theta;

    // A spike of cell or source `id` at `time`, theta within its step: recorded and queued for delivery.
    void emit(int32_t id, double theta, double time)
    {
        spk_id.push_back(id);
        spk_time.push_back(time);
        fire_id.push_back(id);
        fire_theta.push_back(theta);
    }
};

// The steps of cells lo_cell .. hi_cell-1 in step k; their spikes (cell, theta) go to `out` in cell order.
// start: the cells' input segments of th / ww / rr / ff (grouped by target), or nullptr without inputs; ff is
// nullptr when no cell is an IF_curr_exp cell.
void cells_step(psg_og_cell* PSG_RESTRICT cell, int64_t lo_cell, int64_t hi_cell, int64_t k, double h,
                const int64_t* start, double* th, double* ww, signed char* rr, double* ff,
                std::vector<std::pair<int32_t, double>>& out)
{
    for (int64_t j = lo_cell; j < hi_cell; ++j) {
        int64_t lo = 0, m = 0;
        if (start) {
            lo = start[j];
            m = start[j + 1] - lo;
        }
        psg_og_cell& c = cell[j];
        double s;
        if (m == 0) {
            if (!(c.refractory && c.free_step <= k)) {          // most cells, most steps
                if (psg_og_whole_step(c, k, h, &s)) out.emplace_back(static_cast<int32_t>(j), s);
                continue;
            }
            if (psg_og_cell_step(c, k, h, nullptr, nullptr, nullptr, 0, &s)) {
                out.emplace_back(static_cast<int32_t>(j), s);
            }
            continue;
        }
        double* f = ff ? ff + 2 * lo : nullptr;
        if (m > 1) psg_og_sort(th + lo, ww + lo, rr + lo, m, f);
        if (psg_og_cell_step(c, k, h, th + lo, ww + lo, rr + lo, m, &s, f)) {
            out.emplace_back(static_cast<int32_t>(j), s);
        }
    }
}

}  // namespace

PSG_OG_EXPORT void* psg_og_create() { return new Engine(); }
PSG_OG_EXPORT void psg_og_destroy(void* h) { delete static_cast<Engine*>(h); }

PSG_OG_EXPORT int64_t psg_og_pending(void* h)
{
    int64_t n = 0;
    for (const auto& slot : static_cast<Engine*>(h)->ring) n += static_cast<int64_t>(slot.size());
    return n;
}

PSG_OG_EXPORT int64_t psg_og_spike_count(void* h)
{
    return static_cast<int64_t>(static_cast<Engine*>(h)->spk_id.size());
}

PSG_OG_EXPORT void psg_og_take_spikes(void* h, int32_t* ids, double* times)
{
    Engine* e = static_cast<Engine*>(h);
    std::copy(e->spk_id.begin(), e->spk_id.end(), ids);
    std::copy(e->spk_time.begin(), e->spk_time.end(), times);
    e->spk_id.clear();
    e->spk_time.clear();
}

// Every input on its way, in slot order from step k and in arrival order within a slot, with the step it is due
// in (thetas may be null); the ring is unchanged.
PSG_OG_EXPORT void psg_og_peek_inputs(void* h, int64_t k, int64_t* steps, int32_t* targets, int32_t* recs,
                                      double* weights, double* thetas)
{
    const Engine& e = *static_cast<Engine*>(h);
    const int64_t n_slots = static_cast<int64_t>(e.ring.size());
    int64_t j = 0;
    for (int64_t s = k; s < k + n_slots; ++s) {
        for (const Input& in : e.ring[s % n_slots]) {
            steps[j] = s;
            targets[j] = in.target;
            recs[j] = in.rec;
            weights[j] = in.w;
            if (thetas) thetas[j] = in.theta;
            ++j;
        }
    }
}

// As psg_og_peek_inputs without thetas, and the ring is emptied.
PSG_OG_EXPORT void psg_og_take_inputs(void* h, int64_t k, int64_t* steps, int32_t* targets, int32_t* recs,
                                      double* weights)
{
    psg_og_peek_inputs(h, k, steps, targets, recs, weights, nullptr);
    for (auto& slot : static_cast<Engine*>(h)->ring) slot.clear();
}

// The ring becomes n_slots slots holding the n given inputs (input i due in step steps[i]), in this order within
// each slot; what it held is dropped.
PSG_OG_EXPORT void psg_og_put_inputs(void* h, int64_t n_slots, int64_t n, const int64_t* steps,
                                     const int32_t* targets, const int32_t* recs, const double* weights,
                                     const double* thetas)
{
    Engine& e = *static_cast<Engine*>(h);
    e.ring.assign(static_cast<size_t>(n_slots), std::vector<Input>());
    for (int64_t i = 0; i < n; ++i) {
        e.ring[steps[i] % n_slots].push_back(Input{thetas[i], weights[i], targets[i], recs[i]});
    }
}

// The ring grows to n_slots (inputs keep their steps); it never shrinks.
PSG_OG_EXPORT void psg_og_resize(void* h, int64_t n_slots, int64_t k)
{
    Engine& e = *static_cast<Engine*>(h);
    const int64_t old = static_cast<int64_t>(e.ring.size());
    if (n_slots <= old) return;
    std::vector<std::vector<Input>> ring(static_cast<size_t>(n_slots));
    for (int64_t s = k; s < k + old; ++s) ring[s % n_slots].swap(e.ring[s % old]);
    e.ring.swap(ring);
}

// counters: [0] source cursor, [2] next sample index. n_stim cells stim_idx get the drive
// i_e = stim_base + stim_val[(k - k0) * n_stim + r] in step k (currents that change every step). Steps k0 .. k1-1. Synapses in rows by source
// (row_ptr[i] .. row_ptr[i+1]), delays in whole steps >= 1. Sources' spikes sorted by (step, theta, index),
// src_id global. Samples: V of cells rec_idx at the times m * interval (interval steps), for m = counters[2] ..
// last_sample, into samples[(m - counters[2] at the call), r].
PSG_OG_EXPORT void psg_og_run(
    void* handle, int64_t n_cells, psg_og_cell* cell, int64_t n_slots,
    const int64_t* row_ptr, const int32_t* syn_post, const double* syn_w, const int32_t* syn_delay,
    const signed char* syn_rec,
    const int64_t* src_step, const double* src_theta, const double* src_time, const int32_t* src_id,
    int64_t n_src_spikes,
    const int32_t* rec_idx, int64_t n_rec, int64_t interval, int64_t last_sample, double* samples,
    int64_t* counters, int64_t k0, int64_t k1, double h, int64_t threads,
    int64_t n_stim, const int32_t* stim_idx, const double* stim_base, const double* stim_val)
{
#if defined(_OPENMP)
    const int n_threads = (threads > 1 && n_cells >= 4096) ? static_cast<int>(threads) : 1;
#else
    (void)threads;
    const int n_threads = 1;
#endif
    std::vector<std::vector<std::pair<int32_t, double>>> local(static_cast<size_t>(n_threads));
    Engine& e = *static_cast<Engine*>(handle);
    if (static_cast<int64_t>(e.ring.size()) < n_slots) psg_og_resize(handle, n_slots, k0);
    e.start.assign(static_cast<size_t>(n_cells) + 1, 0);
    const int64_t first_row = counters[2];
    auto sample = [&](int64_t m) {
        double* row = samples + (m - first_row) * n_rec;
        for (int64_t r = 0; r < n_rec; ++r) {
            const psg_og_cell& c = cell[rec_idx[r]];
            row[r] = c.u + c.v_rest;
        }
    };
    if (counters[2] <= last_sample && counters[2] * interval == k0) sample(counters[2]++);
    for (int64_t j = 0; j < n_cells; ++j) {      // at or above threshold when the run starts: fires now
        psg_og_cell& c = cell[j];
        if (c.refractory && c.free_step < k0) c.refractory = 0;
        if (!c.refractory && c.u >= c.thr) {
            psg_og_fire(c, k0, 0.0);
            e.emit(static_cast<int32_t>(j), 0.0, static_cast<double>(k0) * h);
        }
    }
    bool has_exp = false;                   // IF_curr_exp cells: their inputs get superposition factors
    for (int64_t j = 0; j < n_cells && !has_exp; ++j) has_exp = cell[j].kind == 1;
    int64_t cursor = counters[0];
    for (int64_t k = k0; k < k1; ++k) {
        std::vector<Input>& slot = e.ring[k % n_slots];
        // 0. currents that change every step: i_offset + the current sources' A(k h)
        for (int64_t r = 0; r < n_stim; ++r) {
            cell[stim_idx[r]].i_e = stim_base[r] + stim_val[(k - k0) * n_stim + r];
        }
        // 1. group this step's inputs by target (stable)
        const int64_t n_in = static_cast<int64_t>(slot.size());
        if (n_in) {
            std::fill(e.start.begin(), e.start.end(), 0);
            for (const Input& in : slot) ++e.start[in.target + 1];
            for (int64_t j = 0; j < n_cells; ++j) e.start[j + 1] += e.start[j];
            e.th.resize(static_cast<size_t>(n_in));
            e.ww.resize(static_cast<size_t>(n_in));
            e.rr.resize(static_cast<size_t>(n_in));
            e.ff.resize(2 * static_cast<size_t>(n_in));
            std::vector<int64_t>& fill = e.start;
            // the inputs of one spike come one after another with one theta: their factors are computed once
            // per kind of target (time constants and capacitance), the same values as computed one by one
            double key_theta = -1.0, key_tm = 0.0, key_cm = 0.0, key_ts = 0.0, fu = 0.0, fi = 0.0;
            for (const Input& in : slot) {
                const int64_t pos = fill[in.target]++;
                e.th[pos] = in.theta;
                e.ww[pos] = in.w;
                e.rr[pos] = static_cast<signed char>(in.rec);
                if (!has_exp) continue;
                const psg_og_cell& c = cell[in.target];
                if (c.kind == 1) {
                    const double ts = in.rec == 0 ? c.tau_se : c.tau_si;
                    if (!(in.theta == key_theta && c.tau_m == key_tm && c.cm == key_cm && ts == key_ts)) {
                        psg_og_input_factors(c, in.rec, h - in.theta, &fu, &fi);
                        key_theta = in.theta;
                        key_tm = c.tau_m;
                        key_cm = c.cm;
                        key_ts = ts;
                    }
                    e.ff[2 * pos] = fu;
                    e.ff[2 * pos + 1] = fi;
                }
            }
            for (int64_t j = n_cells; j > 0; --j) fill[j] = fill[j - 1];   // back to segment starts
            fill[0] = 0;
            slot.clear();
        }
        // 2. the cells' steps (a spike at the run's start was delivered in the step it belongs to, below)
        const int64_t* starts = n_in ? e.start.data() : nullptr;
        if (n_threads > 1) {
#if defined(_OPENMP)
#pragma omp parallel num_threads(n_threads)
            {
                const int t = omp_get_thread_num(), nt = omp_get_num_threads();
                cells_step(cell, n_cells * t / nt, n_cells * (t + 1) / nt, k, h, starts, e.th.data(), e.ww.data(),
                           e.rr.data(), has_exp ? e.ff.data() : nullptr, local[t]);
            }
#endif
        } else {
            cells_step(cell, 0, n_cells, k, h, starts, e.th.data(), e.ww.data(), e.rr.data(),
                       has_exp ? e.ff.data() : nullptr, local[0]);
        }
        for (auto& part : local) {                     // in cell order
            for (const auto& sp : part) e.emit(sp.first, sp.second, static_cast<double>(k) * h + sp.second);
            part.clear();
        }
        // 3. the sources' spikes of this step, then delivery
        while (cursor < n_src_spikes && src_step[cursor] <= k) {
            if (src_step[cursor] == k) e.emit(src_id[cursor], src_theta[cursor], src_time[cursor]);
            ++cursor;
        }
        for (size_t f = 0; f < e.fire_id.size(); ++f) {
            const int64_t i = e.fire_id[f];
            const double theta = e.fire_theta[f];
            for (int64_t q = row_ptr[i]; q < row_ptr[i + 1]; ++q) {
                e.ring[(k + syn_delay[q]) % n_slots].push_back(Input{theta, syn_w[q], syn_post[q], syn_rec[q]});
            }
        }
        e.fire_id.clear();
        e.fire_theta.clear();
        // 4. samples at the end of the step
        if (counters[2] <= last_sample && counters[2] * interval == k + 1) sample(counters[2]++);
    }
    counters[0] = cursor;
}
