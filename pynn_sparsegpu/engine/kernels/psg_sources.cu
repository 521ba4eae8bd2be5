// Spike sources: the step kernels of the generators of engine/neurons/sources.py, which they follow operation by
// operation (float64 arithmetic whatever the network's precision, draws from the population's Philox stream at
// counter (neuron, draw number, step) through psg_variates.h), so the NumPy reference and these kernels give the
// same spikes bit for bit.
//
// Each kernel is a population step kernel (psg_neuron.cuh): it writes counts[i] (spikes of neuron i in this
// step, 0 = none) and publishes them, so spike lists, post-spike history, last-spike stamps and spike recording
// work as for any population. Sources have no receptors and read no injected current.
//
// Slots after the common ones (PSG_NEURON_SLOTS = 18; arrays are float64 unless said otherwise):
//   pynn_sparsegpu_source_exponential_*  (SpikeSourcePoisson, SpikeSourcePoissonRefractory)
//     17 key  18 dt  19 next  20 lo  21 hi_step  22 ref  23 mean_free (+inf: silent)  24 p_dead  25 lo_step
//   pynn_sparsegpu_source_gamma_*        (SpikeSourceGamma)
//     17 key  18 dt  19 next  20 lo  21 hi_step  22 shape  23 k_max  24 scale (+inf: silent)  25 lo_step
//   pynn_sparsegpu_source_inh_gamma_*    (SpikeSourceInhGamma)
//     17 key  18 dt  19 next  20 op  21 lo  22 hi_step  23 tbins [n, width]  24 a [n, width]
//     25 b [n, width]  26 width  27 lo_step
//   lo is the window's start (ms), lo_step and hi_step its start and end in steps (NEST's rounding,
//   sources.steps_of): step k, whose spikes have time (k + 1) dt, is active when lo_step < k + 1 <= hi_step.
//   pynn_sparsegpu_source_array_*        (SpikeSourceArray)
//     17 row_start (long long*, [n + 1])  18 row_steps (long long*: the steps of neuron i's events, sorted, at
//     row_start[i] .. row_start[i + 1])  19 cursor (long long*, [n]: the first event of neuron i not before
//     the last step it ran; repositioned by binary search when the step moved, e.g. after a reset)

#include "psg_neuron.cuh"
#include "psg_variates.h"

#if defined(__CUDACC__)
#define PSG_METHOD __device__ __forceinline__
#else
#define PSG_METHOD inline
#endif

// --- renewal processes ----------------------------------------------------------------------------------------
// Per neuron (engine/neurons/sources.py, _Renewal.step): once the window is over (k + 1 > hi_step) the neuron
// draws nothing more and its next spike is +inf; an undrawn neuron (NaN) draws its first spike at max(lo, t) plus
// the first interval; then each spike due by t + dt is counted when the window is open (k + 1 > lo_step) and
// followed by a new interval.

// The processes: first(key, i, &draw, step) and interval(...) give neuron i's first and next intervals (ms).
struct psg_exponential_process {           // Exponential intervals after a dead time (_Exponential)
    long long cell0;                       // global index of cell 0 (draws are keyed by global indices)
    const double* ref;
    const double* mean_free;               // +inf: silent (rate 0)
    const double* p_dead;

    PSG_METHOD double interval(unsigned long long key, long long i, long long* draw, long long step) const
    {
        const double mf = mean_free[i];
        if (mf == psg_inf()) {
            return psg_inf();
        }
        const double e = psg_exponential(key, cell0 + i, draw, step);
        return ref[i] + e * mf;
    }

    PSG_METHOD double first(unsigned long long key, long long i, long long* draw, long long step) const
    {
        if (p_dead[i] > 0.0) {            // inside a dead time with probability p_dead: uniform in [0, ref]
            double u[2];
            psg_uniform_pair(key, cell0 + i, *draw, step, u);
            *draw += 1;
            if (u[0] < p_dead[i]) {
                return u[1] * ref[i];
            }
        }
        return interval(key, i, draw, step);
    }
};

struct psg_gamma_process {                 // Gamma intervals (Gamma)
    long long cell0;                       // global index of cell 0
    const double* shape;
    const double* k_max;
    const double* scale;                   // +inf: silent (beta 0)

    PSG_METHOD double interval(unsigned long long key, long long i, long long* draw, long long step) const
    {
        const double sc = scale[i];
        if (sc == psg_inf()) {
            return psg_inf();
        }
        return psg_gamma(key, cell0 + i, draw, step, shape[i]) * sc;
    }

    PSG_METHOD double first(unsigned long long key, long long i, long long* draw, long long step) const
    {
        const double sc = scale[i];       // forward recurrence time: Gamma(j), j uniform on 1 .. k_max
        if (sc == psg_inf()) {
            return psg_inf();
        }
        const double u = psg_uniform(key, cell0 + i, draw, step);
        const double j = floor(u * k_max[i]) + 1.0;
        return psg_gamma(key, cell0 + i, draw, step, j) * sc;
    }
};

template <typename REAL, typename PROCESS>
PSG_FN void psg_renewal_step(const psg_slot* PSG_RESTRICT a, const PROCESS& q)
{
    const psg_neuron_common<REAL> c = psg_neuron_unpack<REAL>(a);
    const unsigned long long key = (unsigned long long)PSG_INT(a, PSG_NEURON_SLOTS + 0);
    const double dt = PSG_REAL(a, PSG_NEURON_SLOTS + 1);
    double* next = PSG_PTR(double, a, PSG_NEURON_SLOTS + 2);
    const double* lo = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 3);
    const double* hi_step = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 4);
    const double* lo_step = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 8);
    const double t = (double)c.step * dt;
    const double t_end = t + dt;
    const double k1 = (double)(c.step + 1);
    psg_neuron_begin(c);
    PSG_FOR(i, c.n) {
        double nxt = next[i];
        int count = 0;
        if (k1 > hi_step[i]) {
            nxt = psg_inf();
        } else {
            long long draw = 0;
            if (nxt != nxt) {
                const double origin = psg_maximum(lo[i], t);
                nxt = origin + q.first(key, i, &draw, c.step);
            }
            if (nxt <= t_end) {
                const int active = k1 > lo_step[i] ? 1 : 0;
                do {
                    count += active;
                    nxt = nxt + q.interval(key, i, &draw, c.step);
                } while (nxt <= t_end);
            }
        }
        next[i] = nxt;
        c.counts[i] = count;
    }
    psg_neuron_publish(c);
}

template <typename REAL>
PSG_FN void psg_source_exponential(const psg_slot* PSG_RESTRICT a)
{
    psg_exponential_process q;
    q.cell0 = PSG_INT(a, 17);
    q.ref = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 5);
    q.mean_free = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 6);
    q.p_dead = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 7);
    psg_renewal_step<REAL>(a, q);
}

template <typename REAL>
PSG_FN void psg_source_gamma(const psg_slot* PSG_RESTRICT a)
{
    psg_gamma_process q;
    q.cell0 = PSG_INT(a, 17);
    q.shape = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 5);
    q.k_max = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 6);
    q.scale = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 7);
    psg_renewal_step<REAL>(a, q);
}

// --- inhomogeneous gamma (InhGamma.step) --------------------------------------------------------------------
template <typename REAL>
PSG_FN void psg_source_inh_gamma(const psg_slot* PSG_RESTRICT a)
{
    const psg_neuron_common<REAL> c = psg_neuron_unpack<REAL>(a);
    const unsigned long long key = (unsigned long long)PSG_INT(a, PSG_NEURON_SLOTS + 0);
    const double dt = PSG_REAL(a, PSG_NEURON_SLOTS + 1);
    double* next = PSG_PTR(double, a, PSG_NEURON_SLOTS + 2);
    double* op = PSG_PTR(double, a, PSG_NEURON_SLOTS + 3);
    const double* hi_step = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 5);
    const double* tbins = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 6);
    const double* shape_table = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 7);
    const double* scale_table = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 8);
    const long long width = PSG_INT(a, PSG_NEURON_SLOTS + 9);
    const double* lo_step = PSG_PTR(const double, a, PSG_NEURON_SLOTS + 10);
    const double t = (double)c.step * dt;
    const double k1 = (double)(c.step + 1);
    psg_neuron_begin(c);
    PSG_FOR(i, c.n) {
        long long k = -1;
        for (long long j = 0; j < width; ++j) {
            k += tbins[i * width + j] <= t ? 1 : 0;
        }
        const long long kc = k > 0 ? k : 0;
        const double shape = shape_table[i * width + kc];
        const double rate_hz = k >= 0 ? 1.0 / (shape_table[i * width + kc] * scale_table[i * width + kc]) : 0.0;
        double nxt = next[i];
        double o = op[i];
        long long draw = 0;
        if (nxt != nxt) {
            const double g = psg_gamma(key, c.cell0 + i, &draw, c.step, shape);
            nxt = o + g / shape;
        }
        const bool active = k1 > lo_step[i] && k1 <= hi_step[i];
        o = o + (active ? rate_hz * dt * 1e-3 : 0.0);
        int count = 0;
        while (o >= nxt) {
            count += 1;
            const double g = psg_gamma(key, c.cell0 + i, &draw, c.step, shape);
            nxt = nxt + g / shape;
        }
        next[i] = nxt;
        op[i] = o;
        c.counts[i] = count;
    }
    psg_neuron_publish(c);
}

// --- given spike times (SpikeArray) -------------------------------------------------------------------------
template <typename REAL>
PSG_FN void psg_source_array(const psg_slot* PSG_RESTRICT a)
{
    const psg_neuron_common<REAL> c = psg_neuron_unpack<REAL>(a);
    const long long* row_start = PSG_PTR(const long long, a, PSG_NEURON_SLOTS + 0);
    const long long* row_steps = PSG_PTR(const long long, a, PSG_NEURON_SLOTS + 1);
    long long* cursor = PSG_PTR(long long, a, PSG_NEURON_SLOTS + 2);
    const long long step = c.step;
    psg_neuron_begin(c);
    PSG_FOR(i, c.n) {
        const long long begin = row_start[i], end = row_start[i + 1];
        long long e = cursor[i];
        if (e < begin || e > end || (e > begin && row_steps[e - 1] >= step) || (e < end && row_steps[e] < step)) {
            long long lo = begin, hi = end;          // the first event at or after this step
            while (lo < hi) {
                const long long mid = lo + (hi - lo) / 2;
                if (row_steps[mid] < step) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            e = lo;
        }
        int count = 0;
        while (e < end && row_steps[e] == step) {
            ++count;
            ++e;
        }
        cursor[i] = e;
        c.counts[i] = count;
    }
    psg_neuron_publish(c);
}

#define PSG_SOURCE_KERNELS(NAME)                                                                     \
    PSG_KERNEL void pynn_sparsegpu_source_##NAME##_f32(const psg_slot* PSG_RESTRICT a)               \
    {                                                                                                \
        psg_source_##NAME<float>(a);                                                                 \
    }                                                                                                \
    PSG_KERNEL void pynn_sparsegpu_source_##NAME##_f64(const psg_slot* PSG_RESTRICT a)               \
    {                                                                                                \
        psg_source_##NAME<double>(a);                                                                \
    }

PSG_SOURCE_KERNELS(exponential)
PSG_SOURCE_KERNELS(gamma)
PSG_SOURCE_KERNELS(inh_gamma)
PSG_SOURCE_KERNELS(array)
