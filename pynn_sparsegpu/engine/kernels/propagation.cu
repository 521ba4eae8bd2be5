// Spike-driven propagation on ragged rows (CUDA twin of SynapseGroup.propagate's NumPy path).
//
// Layout (same as engine/connectivity.py):
//   ind[n_pre * capacity]         postsynaptic index, row-major, row i = slots [i*capacity, i*capacity+row_length[i])
//   row_length[n_pre]             synapses in use per row
//   weight[n_pre * capacity]      per-synapse weight;  delay[n_pre * capacity]  per-synapse delay (steps)
//   ring[n_slots * n_receptors * n_post]   target input buffer; slot s, receptor r, neuron j
//
// pynn_sparsegpu_propagation_compact: counts[n] (spike multiplicity this step) -> spike_list, *spike_count
// pynn_sparsegpu_propagation_scatter: a fixed grid; each block takes spikes blockIdx.x, +gridDim.x, ... up to
//   *spike_count (read on the device: no host synchronisation per step) and its threads walk the row to
//   row_length (never to capacity), adding weight * multiplicity into ring[(step + delay) % n_slots].
//
// INDEX_T and REAL_T are set by the loader (-D options); the defaults let nvcc compile this file alone.

#ifndef INDEX_T
#define INDEX_T unsigned short
#endif
#ifndef REAL_T
#define REAL_T float
#endif

extern "C" __global__ void pynn_sparsegpu_propagation_compact(
    const int* __restrict__ counts, const int n, int* __restrict__ spike_list, int* __restrict__ spike_count)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        if (counts[i] > 0) {
            const int k = atomicAdd(spike_count, 1);
            spike_list[k] = i;
        }
    }
}

extern "C" __global__ void pynn_sparsegpu_propagation_scatter(
    const int* __restrict__ spike_list, const int* __restrict__ spike_count, const int* __restrict__ counts,
    const INDEX_T* __restrict__ ind, const int* __restrict__ row_length,
    const REAL_T* __restrict__ weight, const int* __restrict__ delay,
    REAL_T* __restrict__ ring, const int capacity, const int n_post, const int n_slots,
    const int n_receptors, const int receptor, const long long step)
{
    const int n_spikes = *spike_count;
    for (int s = blockIdx.x; s < n_spikes; s += gridDim.x) {
        const int pre = spike_list[s];
        const REAL_T multiplicity = (REAL_T)counts[pre];
        const long long base = (long long)pre * capacity;
        const int length = row_length[pre];
        for (int j = threadIdx.x; j < length; j += blockDim.x) {
            const long long syn = base + j;
            const int slot = (int)((step + delay[syn]) % n_slots);
            const long long target = ((long long)slot * n_receptors + receptor) * n_post + ind[syn];
            atomicAdd(&ring[target], weight[syn] * multiplicity);
        }
    }
}
