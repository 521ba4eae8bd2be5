// Spike propagation through synapses with dynamics (the compiled twin of ModelSynapseGroup.propagate,
// engine/plastic.py, and of the models' on_pre, engine/synapse_models.py).
//
// One launch per projection per step. Each spike of this step's compact spike list of the source walks its row to
// row_length; each synapse it reaches is updated by the model's event rule exactly as the reference updates it
// (the event is stamped t = step + 1), its variables are written back into the rows, and what it transmits,
// times the spike count, is added into ring[(step + delay) % n_slots][receptor][post]. On the CPU spikes and
// synapses are taken in the reference's order and each addition into the ring is done in double and rounded once,
// as NumPy's add.at does, so the ring holds the reference's sums. On CUDA a block takes a spike and its threads share
// the row (every synapse is touched by one thread: a synapse is reached at most once per step).
//
// Kernels (each in f32 and f64): pynn_sparsegpu_plasticity_{stdp, tsodyks_markram, simple_stochastic,
// stochastic_tsodyks_markram, multi_quantal}_{f32,f64}.
//
// Common slots (PSG_PLASTIC_SLOTS):
//    0 clock (long long*)    1 counts (int*)        2 spike_list (int*)       3 spike_count (int*, [2])
//    4 ind                   5 index bytes          6 row_length (int*)       7 capacity
//    8 weight (REAL*)        9 delay (int*)        10 ring (REAL*)           11 n_slots
//   12 n_receptors          13 receptor            14 n_post                 15 dt (double)
//   16 key slots (const int*, or 0): the place each synapse would have in its row in one process, which keys
//      the random draws of the stochastic models in place of its slot here (given when several processes
//      share the rows, so that the draws do not depend on their number)
// then per model:
//   stdp:                    PSG_STDP_SLOTS (psg_stdp.cuh), then the overflow counter (long long*)
//   tsodyks_markram:         U, tau_rec, tau_facil, x, y, u (REAL*), t_last (long long*),
//                            tau_psc (REAL*, per target neuron, or 0 for 3 ms),
//                            decay tables of tau_rec, tau_facil, tau_psc (3 slots each: double*, length, tau)
//   simple_stochastic:       p (REAL*), key
//   stochastic_tsodyks_markram: U, tau_rec, tau_facil, R, u (REAL*), t_last (long long*), key,
//                            tables: tau_facil (exp), tau_rec (expm1)
//   multi_quantal:           U, n, tau_rec, tau_facil, a, u (REAL*), t_last (long long*), key,
//                            tables: tau_facil (exp), tau_rec (expm1)
//
// Decay tables hold NumPy's exp(-(m dt) / tau) (expm1 for the recovery probabilities) at integer step counts m,
// so that a synapse whose tau is the table's gets the reference's numbers; other synapses, and m past the
// table, use the C library's functions.
//
// Random numbers (stochastic models): Philox4x32-10 (psg_random.h) with the projection's key; draw pair p of the
// synapse in (row, slot) at step k comes from the counter (row, slot * 64 + p % 64, k low, k high + (p / 64) << 24),
// as engine/random.py's synapse_uniform_pair.

#include "psg_portable.h"
#include "psg_random.h"
#include "psg_stdp.cuh"

#define PSG_PLASTIC_SLOTS 17
#define PSG_SYNAPSE_PAIRS 64

template <typename REAL>
struct psg_plastic {
    long long step, n_spikes, capacity, n_slots, n_receptors, receptor, n_post;
    const int* counts;
    const int* spike_list;
    const void* ind;
    int index_bytes;
    const int* row_length;
    REAL* weight;
    const int* delay;
    REAL* ring;
    double dt;
    const int* key_slot;
};

template <typename REAL>
PSG_FN psg_plastic<REAL> psg_plastic_unpack(const psg_slot* a)
{
    psg_plastic<REAL> c;
    c.step = *PSG_PTR(const long long, a, 0);
    c.counts = PSG_PTR(const int, a, 1);
    c.spike_list = PSG_PTR(const int, a, 2);
    c.n_spikes = PSG_PTR(const int, a, 3)[c.step & 1];
    c.ind = PSG_PTR(const void, a, 4);
    c.index_bytes = (int)PSG_INT(a, 5);
    c.row_length = PSG_PTR(const int, a, 6);
    c.capacity = PSG_INT(a, 7);
    c.weight = PSG_PTR(REAL, a, 8);
    c.delay = PSG_PTR(const int, a, 9);
    c.ring = PSG_PTR(REAL, a, 10);
    c.n_slots = PSG_INT(a, 11);
    c.n_receptors = PSG_INT(a, 12);
    c.receptor = PSG_INT(a, 13);
    c.n_post = PSG_INT(a, 14);
    c.dt = PSG_REAL(a, 15);
    c.key_slot = PSG_PTR(const int, a, 16);
    return c;
}

// ring += v, in double and rounded once on the CPU (NumPy's add.at into a REAL ring); atomic on CUDA.
PSG_FN void psg_ring_add(double* p, double v) { psg_atomic_add(p, v); }
PSG_FN void psg_ring_add(float* p, double v)
{
#if defined(PSG_CUDA)
    psg_atomic_add(p, (float)v);
#else
    *p = (float)((double)*p + v);
#endif
}

// Where synapse syn, whose target is post, adds in this step.
template <typename REAL>
PSG_FN REAL* psg_plastic_ring_at(const psg_plastic<REAL>& c, long long post, long long delay)
{
    const long long slot = (c.step + delay) % c.n_slots;
    return &c.ring[(slot * c.n_receptors + c.receptor) * c.n_post + post];
}

template <typename REAL>
PSG_FN void psg_plastic_deliver(const psg_plastic<REAL>& c, long long post, long long delay, double value)
{
    psg_ring_add(psg_plastic_ring_at(c, post, delay), value);
}

// Draw pair `pair` of the synapse in (row, slot) at step `step` (engine/random.py's synapse_uniform_pair).
PSG_FN void psg_synapse_uniform_pair(unsigned long long key, long long row, long long slot, long long pair,
                                     long long step, double* u)
{
    unsigned int w[4];
    const unsigned long long p = (unsigned long long)pair;
    const unsigned long long draw = (unsigned long long)slot * PSG_SYNAPSE_PAIRS + p % PSG_SYNAPSE_PAIRS;
    const unsigned long long high = ((unsigned long long)step >> 32) + ((p / PSG_SYNAPSE_PAIRS) << 24);
    psg_philox(key, (unsigned int)row, (unsigned int)draw, (unsigned int)step, (unsigned int)high, w);
    u[0] = psg_u53(w[0], w[1]);
    u[1] = psg_u53(w[2], w[3]);
}

// exp(-h / tau) and expm1(-h / tau) with h = m dt (the short-term plasticity models' form).
PSG_FN double psg_decay_interval(const psg_decay_table& table, double tau, long long m, double dt)
{
    if (tau == table.tau && m >= 0 && m < table.length) {
        return table.value[m];
    }
    const double h = (double)m * dt;
    return exp(-h / tau);
}

PSG_FN double psg_expm1_interval(const psg_decay_table& table, double tau, long long m, double dt)
{
    if (tau == table.tau && m >= 0 && m < table.length) {
        return table.value[m];
    }
    const double h = (double)m * dt;
    return expm1(-h / tau);
}

// The loop over this step's events: body(syn, row, slot, post, delay, multiplicity) for every synapse reached
// (slot: its key slot where the kernel has them, see slot 16).
// On the CPU, the memory that ahead(syn, post) names (a psg_ahead) is prefetched PSG_PLASTIC_AHEAD synapses before
// the body reaches synapse syn: the events of a row reach scattered targets, whose data would otherwise be waited
// for one event at a time. (The prefetches are issued in this loop, by a macro: GCC takes a function that only
// prefetches for one without effect and drops the calls to it.)
#define PSG_PLASTIC_AHEAD 8

struct psg_ahead {
    const void* p[3];
};

#if defined(PSG_CUDA)
#define PSG_METHOD __device__
#else
#define PSG_METHOD inline
#endif

struct psg_no_ahead {     // prefetches nothing
    PSG_METHOD psg_ahead operator()(long long, long long) const { return psg_ahead{{0, 0, 0}}; }
};
template <typename AHEAD> struct psg_prefetching { enum { value = 1 }; };
template <> struct psg_prefetching<psg_no_ahead> { enum { value = 0 }; };

#if defined(PSG_CUDA)
#define PSG_PLASTIC_PREFETCH(c, ahead, syn) ((void)0)
#else
#define PSG_PLASTIC_PREFETCH(c, ahead, syn)                                                                  \
    do {                                                                                                      \
        const psg_ahead where_ = ahead(syn, psg_load_index((c).ind, (c).index_bytes, syn));                   \
        __builtin_prefetch(where_.p[0]);                                                                      \
        __builtin_prefetch(where_.p[1]);                                                                      \
        __builtin_prefetch(where_.p[2]);                                                                      \
    } while (0)
#endif

template <typename REAL, typename BODY, typename AHEAD>
PSG_FN void psg_plastic_events(const psg_plastic<REAL>& c, const BODY& body, const AHEAD& ahead)
{
    PSG_FOR_BLOCKS(e, c.n_spikes) {
        const long long row = c.spike_list[e];
        const double multiplicity = (double)c.counts[row];
        const long long base = row * c.capacity;
        const long long length = c.row_length[row];
#if !defined(PSG_CUDA)
        for (long long j = 0; psg_prefetching<AHEAD>::value && j < length && j < PSG_PLASTIC_AHEAD; ++j) {
            PSG_PLASTIC_PREFETCH(c, ahead, base + j);
        }
#endif
        PSG_FOR_THREADS(slot, length) {
            const long long syn = base + slot;
#if !defined(PSG_CUDA)
            if (psg_prefetching<AHEAD>::value && slot + PSG_PLASTIC_AHEAD < length) {
                PSG_PLASTIC_PREFETCH(c, ahead, syn + PSG_PLASTIC_AHEAD);
            }
#endif
            body(syn, row, c.key_slot ? (long long)c.key_slot[syn] : (long long)slot,
                 psg_load_index(c.ind, c.index_bytes, syn), (long long)c.delay[syn],
                 multiplicity);
        }
    }
}

template <typename REAL, typename BODY>
PSG_FN void psg_plastic_events(const psg_plastic<REAL>& c, const BODY& body)
{
    psg_plastic_events(c, body, psg_no_ahead());
}

// --- STDP ----------------------------------------------------------------------------------------------------
template <typename REAL>
PSG_FN void psg_plasticity_stdp(const psg_slot* PSG_RESTRICT a)
{
    const psg_plastic<REAL> c = psg_plastic_unpack<REAL>(a);
    const psg_stdp<REAL> s = psg_stdp_unpack<REAL>(a, PSG_PLASTIC_SLOTS);
    long long* overflow = PSG_PTR(long long, a, PSG_PLASTIC_SLOTS + PSG_STDP_SLOTS);
    const long long t = c.step + 1;
    psg_plastic_events(c, [&](long long syn, long long row, long long slot, long long post, long long delay,
                              double multiplicity) {
        (void)row;
        (void)slot;
        const double w = psg_stdp_on_pre(s, syn, post, t, delay, overflow);
        psg_plastic_deliver(c, post, delay, w * multiplicity);
    }, [&](long long syn, long long post) {
        const long long* h = s.stamps + post * s.width;
        return psg_ahead{{h, h + 8, psg_plastic_ring_at(c, post, c.delay[syn])}};
    });
}

// --- Tsodyks-Markram -----------------------------------------------------------------------------------------
template <typename REAL>
PSG_FN void psg_plasticity_tsodyks_markram(const psg_slot* PSG_RESTRICT a)
{
    const psg_plastic<REAL> c = psg_plastic_unpack<REAL>(a);
    const long long k = PSG_PLASTIC_SLOTS;
    const REAL* U = PSG_PTR(const REAL, a, k + 0);
    const REAL* tau_rec = PSG_PTR(const REAL, a, k + 1);
    const REAL* tau_facil = PSG_PTR(const REAL, a, k + 2);
    REAL* x_ = PSG_PTR(REAL, a, k + 3);
    REAL* y_ = PSG_PTR(REAL, a, k + 4);
    REAL* u_ = PSG_PTR(REAL, a, k + 5);
    long long* tlast = PSG_PTR(long long, a, k + 6);
    const REAL* tau_psc_of = PSG_PTR(const REAL, a, k + 7);
    const psg_decay_table rec = psg_decay_table_unpack(a, k + 8);
    const psg_decay_table fac = psg_decay_table_unpack(a, k + 11);
    const psg_decay_table psc = psg_decay_table_unpack(a, k + 14);
    const long long t = c.step + 1;
    psg_plastic_events(c, [&](long long syn, long long row, long long slot, long long post, long long delay,
                              double multiplicity) {
        (void)row;
        (void)slot;
        const long long m = t - tlast[syn];
        const double h = (double)m * c.dt;
        const REAL trec = tau_rec[syn], tfac = tau_facil[syn];
        // the target's time constant (REAL), or 3 ms as a double where the receptor has none
        const double tau_psc = tau_psc_of ? (double)tau_psc_of[post] : 3.0;
        const double gap = tau_psc_of ? (double)(tau_psc_of[post] - trec) : 3.0 - (double)trec;
        const double Puu = tfac == (REAL)0.0 ? 0.0 : psg_decay_interval(fac, (double)tfac, m, c.dt);
        const double Pyy = psg_decay_interval(psc, tau_psc, m, c.dt);
        const double Pzz = psg_decay_interval(rec, (double)trec, m, c.dt);
        const bool same = fabs(gap) < (double)((REAL)1e-12 * trec);
        const double Pxy = same ? h / (double)trec * Pzz
                                : ((Pzz - 1.0) * (double)trec - (Pyy - 1.0) * tau_psc) / gap;
        const REAL x0 = x_[syn], y0 = y_[syn];
        const REAL z = (REAL)1.0 - x0 - y0;
        double u = (double)u_[syn] * Puu;
        const double x = (double)x0 + Pxy * (double)y0 + (1.0 - Pzz) * (double)z;
        const double y = (double)y0 * Pyy;
        u = u + (double)U[syn] * (1.0 - u);
        const double release = u * x;
        x_[syn] = (REAL)(x - release);
        y_[syn] = (REAL)(y + release);
        u_[syn] = (REAL)u;
        tlast[syn] = t;
        psg_plastic_deliver(c, post, delay, ((double)c.weight[syn] * release) * multiplicity);
    }, [&](long long syn, long long post) {
        return psg_ahead{{psg_plastic_ring_at(c, post, c.delay[syn]), 0, 0}};
    });
}

// --- stochastic release --------------------------------------------------------------------------------------
template <typename REAL>
PSG_FN void psg_plasticity_simple_stochastic(const psg_slot* PSG_RESTRICT a)
{
    const psg_plastic<REAL> c = psg_plastic_unpack<REAL>(a);
    const REAL* p = PSG_PTR(const REAL, a, PSG_PLASTIC_SLOTS + 0);
    const unsigned long long key = (unsigned long long)PSG_INT(a, PSG_PLASTIC_SLOTS + 1);
    psg_plastic_events(c, [&](long long syn, long long row, long long slot, long long post, long long delay,
                              double multiplicity) {
        double u[2];
        psg_synapse_uniform_pair(key, row, slot, 0, c.step, u);
        if (u[0] < (double)p[syn]) {
            psg_plastic_deliver(c, post, delay, (double)c.weight[syn] * multiplicity);
        } else {
            psg_plastic_deliver(c, post, delay, 0.0 * multiplicity);
        }
    }, [&](long long syn, long long post) {
        return psg_ahead{{psg_plastic_ring_at(c, post, c.delay[syn]), 0, 0}};
    });
}

template <typename REAL>
PSG_FN void psg_plasticity_stochastic_tsodyks_markram(const psg_slot* PSG_RESTRICT a)
{
    const psg_plastic<REAL> c = psg_plastic_unpack<REAL>(a);
    const long long k = PSG_PLASTIC_SLOTS;
    const REAL* U = PSG_PTR(const REAL, a, k + 0);
    const REAL* tau_rec = PSG_PTR(const REAL, a, k + 1);
    const REAL* tau_facil = PSG_PTR(const REAL, a, k + 2);
    REAL* R_ = PSG_PTR(REAL, a, k + 3);
    REAL* u_ = PSG_PTR(REAL, a, k + 4);
    long long* tlast = PSG_PTR(long long, a, k + 5);
    const unsigned long long key = (unsigned long long)PSG_INT(a, k + 6);
    const psg_decay_table fac = psg_decay_table_unpack(a, k + 7);
    const psg_decay_table rec = psg_decay_table_unpack(a, k + 10);
    const long long t = c.step + 1;
    psg_plastic_events(c, [&](long long syn, long long row, long long slot, long long post, long long delay,
                              double multiplicity) {
        const long long m = t - tlast[syn];
        const REAL tfac = tau_facil[syn], Us = U[syn];
        const double decay = tfac == (REAL)0.0 ? 0.0 : psg_decay_interval(fac, (double)tfac, m, c.dt);
        const double u = (double)Us + (double)(u_[syn] * ((REAL)1.0 - Us)) * decay;
        double draw[2];
        psg_synapse_uniform_pair(key, row, slot, 0, c.step, draw);
        const bool recovered = R_[syn] > (REAL)0 || draw[0] < -psg_expm1_interval(rec, (double)tau_rec[syn], m, c.dt);
        const bool release = recovered && draw[1] < u;
        R_[syn] = release ? (REAL)0.0 : (recovered ? (REAL)1.0 : (REAL)0.0);
        u_[syn] = (REAL)u;
        tlast[syn] = t;
        psg_plastic_deliver(c, post, delay, (release ? (double)c.weight[syn] : 0.0) * multiplicity);
    }, [&](long long syn, long long post) {
        return psg_ahead{{psg_plastic_ring_at(c, post, c.delay[syn]), 0, 0}};
    });
}

template <typename REAL>
PSG_FN void psg_plasticity_multi_quantal(const psg_slot* PSG_RESTRICT a)
{
    const psg_plastic<REAL> c = psg_plastic_unpack<REAL>(a);
    const long long k = PSG_PLASTIC_SLOTS;
    const REAL* U = PSG_PTR(const REAL, a, k + 0);
    const REAL* n_sites = PSG_PTR(const REAL, a, k + 1);
    const REAL* tau_rec = PSG_PTR(const REAL, a, k + 2);
    const REAL* tau_facil = PSG_PTR(const REAL, a, k + 3);
    REAL* a_ = PSG_PTR(REAL, a, k + 4);
    REAL* u_ = PSG_PTR(REAL, a, k + 5);
    long long* tlast = PSG_PTR(long long, a, k + 6);
    const unsigned long long key = (unsigned long long)PSG_INT(a, k + 7);
    const psg_decay_table fac = psg_decay_table_unpack(a, k + 8);
    const psg_decay_table rec = psg_decay_table_unpack(a, k + 11);
    const long long t = c.step + 1;
    psg_plastic_events(c, [&](long long syn, long long row, long long slot, long long post, long long delay,
                              double multiplicity) {
        const REAL n = n_sites[syn], Us = U[syn];
        const bool fresh = a_[syn] < (REAL)0;
        REAL avail = fresh ? n : a_[syn];
        const REAL u0 = fresh ? Us : u_[syn];
        const long long m = t - tlast[syn];
        const long long sites = (long long)n;
        long long released = 0;
        for (long long j = 0; j < sites; ++j) {        // site j: the first number of pair j
            double draw[2];
            psg_synapse_uniform_pair(key, row, slot, j, c.step, draw);
            released += ((double)j < (double)avail && draw[0] < (double)u0) ? 1 : 0;
        }
        const REAL released_r = (REAL)released;
        avail = avail - released_r;
        const REAL tfac = tau_facil[syn];
        const double decay = tfac < (REAL)1e-10 ? 0.0 : psg_decay_interval(fac, (double)tfac, m, c.dt);
        const double u = (double)Us + (double)(u0 * ((REAL)1.0 - Us)) * decay;
        const double p_recover = -psg_expm1_interval(rec, (double)tau_rec[syn], m, c.dt);
        const REAL empty = n - avail;
        long long recovered = 0;
        for (long long j = 0; j < sites; ++j) {        // site j: the second number of pair j
            if (!((double)j < (double)empty)) {
                break;
            }
            double draw[2];
            psg_synapse_uniform_pair(key, row, slot, j, c.step, draw);
            recovered += draw[1] < p_recover ? 1 : 0;
        }
        a_[syn] = avail + (REAL)recovered;
        u_[syn] = (REAL)u;
        tlast[syn] = t;
        psg_plastic_deliver(c, post, delay, (double)(released_r * c.weight[syn]) * multiplicity);
    }, [&](long long syn, long long post) {
        return psg_ahead{{psg_plastic_ring_at(c, post, c.delay[syn]), 0, 0}};
    });
}

#define PSG_PLASTIC_KERNELS(NAME)                                                                            \
    PSG_KERNEL void pynn_sparsegpu_plasticity_##NAME##_f32(const psg_slot* PSG_RESTRICT a)                   \
    {                                                                                                         \
        psg_plasticity_##NAME<float>(a);                                                                      \
    }                                                                                                         \
    PSG_KERNEL void pynn_sparsegpu_plasticity_##NAME##_f64(const psg_slot* PSG_RESTRICT a)                   \
    {                                                                                                         \
        psg_plasticity_##NAME<double>(a);                                                                     \
    }

PSG_PLASTIC_KERNELS(stdp)
PSG_PLASTIC_KERNELS(tsodyks_markram)
PSG_PLASTIC_KERNELS(simple_stochastic)
PSG_PLASTIC_KERNELS(stochastic_tsodyks_markram)
PSG_PLASTIC_KERNELS(multi_quantal)
