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
// Slots: 0 clock (long long*), 1 counts (int*), 2 spike_list (int*), 3 spike_count (int*, [2]),
//        4 number of projections, 5 table (psg_slot*): per projection 11 slots
//          ind, index bytes, row_length (int*), weight (real*), delay (int*), capacity,
//          ring (real*), n_slots, n_receptors, receptor, n_post

#include "psg_portable.h"

#define PSG_STATIC_PROJECTION_SLOTS 11

template <typename REAL>
PSG_FN void psg_propagation_static(const psg_slot* PSG_RESTRICT a)
{
    const long long step = *PSG_PTR(const long long, a, 0);
    const int* counts = PSG_PTR(const int, a, 1);
    const int* spike_list = PSG_PTR(const int, a, 2);
    const int n_spikes = PSG_PTR(const int, a, 3)[step & 1];
    const long long n_projections = PSG_INT(a, 4);
    const psg_slot* table = PSG_PTR(const psg_slot, a, 5);
    for (long long p = 0; p < n_projections; ++p) {
        const psg_slot* t = table + p * PSG_STATIC_PROJECTION_SLOTS;
        const void* ind = PSG_PTR(const void, t, 0);
        const int index_bytes = (int)PSG_INT(t, 1);
        const int* row_length = PSG_PTR(const int, t, 2);
        const REAL* weight = PSG_PTR(const REAL, t, 3);
        const int* delay = PSG_PTR(const int, t, 4);
        const long long capacity = PSG_INT(t, 5);
        REAL* ring = PSG_PTR(REAL, t, 6);
        const long long n_slots = PSG_INT(t, 7);
        const long long n_receptors = PSG_INT(t, 8);
        const long long receptor = PSG_INT(t, 9);
        const long long n_post = PSG_INT(t, 10);
        PSG_FOR_BLOCKS(s, n_spikes) {
            const int pre = spike_list[s];
            const REAL multiplicity = (REAL)counts[pre];
            const long long base = (long long)pre * capacity;
            const int length = row_length[pre];
            PSG_FOR_THREADS(j, length) {
                const long long syn = base + j;
                const long long slot = (step + delay[syn]) % n_slots;
                const long long target = (slot * n_receptors + receptor) * n_post + psg_load_index(ind, index_bytes, syn);
                psg_atomic_add(&ring[target], weight[syn] * multiplicity);
            }
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
