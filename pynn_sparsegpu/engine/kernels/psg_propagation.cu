// Spike propagation through static synapses on ragged rows (the compiled twin of SynapseGroup.propagate).
//
// Layout (engine/connectivity.py):
//   ind[n_pre * capacity]          postsynaptic index, row-major; row i = slots [i*capacity, i*capacity + row_length[i])
//   row_length[n_pre]              synapses in use per row
//   weight[n_pre * capacity]       per-synapse weight;  delay[n_pre * capacity]  per-synapse delay (steps, int)
//   ring[n_slots * n_receptors * n_post]   the target population's input buffer: slot s, receptor r, neuron j
//
// pynn_sparsegpu_propagation_static_{f32,f64}: one launch for a run of projections that share a source
// population. For each projection, each spike of this step's compact spike list (written by the source's step
// kernel) walks its row to row_length (never to capacity) and adds weight * spike count into
// ring[(step + delay) % n_slots][receptor][post]. On CUDA a block takes a spike and its threads share the row;
// on the CPU spikes and synapses are taken in order, so the sums are those of the NumPy reference.
//
// A projection whose synapses all hold one delay (and one weight) gets them as numbers (slots 11-13): its rows
// are then read as target indices alone, a quarter of the memory traffic of index + weight + delay, and the
// sums are bit for bit those of the general loop.
//
// Slots: 0 clock (long long*), 1 counts (int*), 2 spike_list (int*), 3 spike_count (int*, [2]),
//        4 number of projections, 5 table (psg_slot*): per projection 14 slots
//          ind, index bytes, row_length (int*), weight (real*), delay (int*), capacity,
//          ring (real*), n_slots, n_receptors, receptor, n_post,
//          the delay every synapse holds (steps; -1: several), 1 if every synapse holds one weight, that weight

#include "psg_portable.h"

#define PSG_STATIC_PROJECTION_SLOTS 14

template <typename REAL>
struct psg_static_projection {
    const void* ind;
    int index_bytes;
    const int* row_length;
    const REAL* weight;
    const int* delay;
    long long capacity;
    REAL* ring;                    // the target's ring at this projection's receptor, slot 0
    long long n_slots, slot_stride, n_post;
    long long slot_now;            // step % n_slots: a delay d lands in slot_now + d, less n_slots if past the end
    long long shared_delay;        // the delay of every synapse, or -1
    bool shared_weight;            // every synapse holds `weight_value`
    REAL weight_value;
};

template <typename REAL>
PSG_FN psg_static_projection<REAL> psg_static_unpack(const psg_slot* t, long long step)
{
    psg_static_projection<REAL> p;
    p.ind = PSG_PTR(const void, t, 0);
    p.index_bytes = (int)PSG_INT(t, 1);
    p.row_length = PSG_PTR(const int, t, 2);
    p.weight = PSG_PTR(const REAL, t, 3);
    p.delay = PSG_PTR(const int, t, 4);
    p.capacity = PSG_INT(t, 5);
    p.n_slots = PSG_INT(t, 7);
    p.n_post = PSG_INT(t, 10);
    p.slot_stride = PSG_INT(t, 8) * p.n_post;
    p.ring = PSG_PTR(REAL, t, 6) + PSG_INT(t, 9) * p.n_post;
    p.slot_now = step % p.n_slots;
    p.shared_delay = PSG_INT(t, 11);
    p.shared_weight = PSG_INT(t, 12) != 0;
    p.weight_value = (REAL)PSG_REAL(t, 13);
    return p;
}

// The synapses j in [first, length) (stride `stride`) of one spiking row: weight times the spike count into the
// target's slot at step + delay (delays are below n_slots, so one subtraction wraps). Only targets in [lo, hi)
// are taken (RANGE): all of them with one thread; a thread's share with several (see below).
template <typename REAL, typename INDEX, bool RANGE>
PSG_FN void psg_static_row(const psg_static_projection<REAL>& p, long long base, long long first, long long length,
                           long long stride, REAL multiplicity, long long lo, long long hi)
{
    const INDEX* ind = (const INDEX*)p.ind + base;
    if (p.shared_delay >= 0) {
        long long slot = p.slot_now + p.shared_delay;
        if (slot >= p.n_slots) {
            slot -= p.n_slots;
        }
        REAL* target = p.ring + slot * p.slot_stride;
        if (p.shared_weight) {
            const REAL v = p.weight_value * multiplicity;
            for (long long j = first; j < length; j += stride) {
                const long long post = (long long)ind[j];
                if (RANGE && (post < lo || post >= hi)) {
                    continue;
                }
                psg_atomic_add(&target[post], v);
            }
        } else {
            const REAL* weight = p.weight + base;
            for (long long j = first; j < length; j += stride) {
                const long long post = (long long)ind[j];
                if (RANGE && (post < lo || post >= hi)) {
                    continue;
                }
                psg_atomic_add(&target[post], weight[j] * multiplicity);
            }
        }
        return;
    }
    const REAL* weight = p.weight + base;
    const int* delay = p.delay + base;
    for (long long j = first; j < length; j += stride) {
        const long long post = (long long)ind[j];
        if (RANGE && (post < lo || post >= hi)) {
            continue;
        }
        long long slot = p.slot_now + delay[j];
        if (slot >= p.n_slots) {
            slot -= p.n_slots;
        }
        psg_atomic_add(&p.ring[slot * p.slot_stride + post], weight[j] * multiplicity);
    }
}

template <typename REAL, bool RANGE>
PSG_FN void psg_static_spike(const psg_static_projection<REAL>& p, int pre, REAL multiplicity, long long first,
                             long long stride, long long lo, long long hi)
{
    const long long base = (long long)pre * p.capacity;
    const long long length = p.row_length[pre];
    switch (p.index_bytes) {
    case 1: psg_static_row<REAL, unsigned char, RANGE>(p, base, first, length, stride, multiplicity, lo, hi); break;
    case 2: psg_static_row<REAL, unsigned short, RANGE>(p, base, first, length, stride, multiplicity, lo, hi); break;
    case 4: psg_static_row<REAL, unsigned int, RANGE>(p, base, first, length, stride, multiplicity, lo, hi); break;
    default:
        psg_static_row<REAL, unsigned long long, RANGE>(p, base, first, length, stride, multiplicity, lo, hi);
        break;
    }
}

template <typename REAL>
PSG_FN void psg_propagation_static(const psg_slot* PSG_RESTRICT a)
{
    const long long step = *PSG_PTR(const long long, a, 0);
    const int* counts = PSG_PTR(const int, a, 1);
    const int* spike_list = PSG_PTR(const int, a, 2);
    const int n_spikes = PSG_PTR(const int, a, 3)[step & 1];
    const long long n_projections = PSG_INT(a, 4);
    const psg_slot* table = PSG_PTR(const psg_slot, a, 5);
#if PSG_OPENMP
    // With several threads each takes the targets in its share of [0, n_post) and walks every spiking row: every
    // target still receives its inputs in the serial order, so the sums do not depend on the thread count.
    if (psg_threads() > 1 && n_spikes > 0) {
        long long events = 0;
        for (long long p = 0; p < n_projections; ++p) {
            const int* row_length = PSG_PTR(const int, table + p * PSG_STATIC_PROJECTION_SLOTS, 2);
            for (int s = 0; s < n_spikes; ++s) {
                events += row_length[spike_list[s]];
            }
        }
        if (events >= PSG_OMP_MIN_ELEMENTS) {
#pragma omp parallel
            {
                const int t = omp_get_thread_num(), nt = omp_get_num_threads();
                for (long long q = 0; q < n_projections; ++q) {
                    const psg_static_projection<REAL> p =
                        psg_static_unpack<REAL>(table + q * PSG_STATIC_PROJECTION_SLOTS, step);
                    const long long lo = p.n_post * t / nt, hi = p.n_post * (t + 1) / nt;
                    for (int s = 0; s < n_spikes; ++s) {
                        const int pre = spike_list[s];
                        psg_static_spike<REAL, true>(p, pre, (REAL)counts[pre], 0, 1, lo, hi);
                    }
                }
            }
            return;
        }
    }
#endif
    for (long long q = 0; q < n_projections; ++q) {
        const psg_static_projection<REAL> p = psg_static_unpack<REAL>(table + q * PSG_STATIC_PROJECTION_SLOTS, step);
        PSG_FOR_BLOCKS(s, n_spikes) {
            const int pre = spike_list[s];
#if defined(PSG_CUDA)
            psg_static_spike<REAL, false>(p, pre, (REAL)counts[pre], threadIdx.x, blockDim.x, 0LL, p.n_post);
#else
            psg_static_spike<REAL, false>(p, pre, (REAL)counts[pre], 0, 1, 0LL, p.n_post);
#endif
        }
    }
}

PSG_KERNEL void pynn_sparsegpu_propagation_static_f32(const psg_slot* PSG_RESTRICT a)
{
    psg_propagation_static<float>(a);
}

PSG_KERNEL void pynn_sparsegpu_propagation_static_f64(const psg_slot* PSG_RESTRICT a)
{
    psg_propagation_static<double>(a);
}
