// Swap-with-last synapse removal on ragged rows (CUDA twin of RaggedRows.remove_synapses' array path).
//
// Layout (same as engine/connectivity.py):
//   ind[n_pre * capacity]          postsynaptic index, row-major, row i = slots [i*capacity, i*capacity+row_length[i])
//   row_length[n_pre]              synapses in use per row
//   mask[n_pre * capacity]         1 = remove this synapse (slots >= row_length are ignored)
//   src[n_pre * capacity]          out: for slots c < new row_length, the column (within the same row) whose
//                                  synapse now sits in c, or -1 = unchanged; slots >= new row_length are not written
//
// The rule, per row (L = row_length, K = masked slots below L, L' = L - K):
//   the j-th masked slot below L' (ascending) receives the j-th unmasked slot in [L', L) (ascending);
//   row_length becomes L'. As swap-with-last steps: the holes below L' from the highest down, each filled by
//   the row's last synapse after masked synapses have been dropped from the end; masked slots >= L' are only
//   dropped, never refilled. Only the moved synapses are touched, each once. (RaggedRows.remove_synapses.)
//
// pynn_sparsegpu_rows_remove:      one thread per row (grid-stride): moves ind, writes src, sets row_length.
// pynn_sparsegpu_rows_gather_uN:   applies src to one per-synapse variable of N-bit elements (any dtype of that
//                                  width: float/double/int32/...); a block per row, threads walk to row_length.
//                                  In place is safe: sources are >= L' and destinations are < L'.
//
// INDEX_T is set by the loader (-D option); the default lets nvcc compile this file alone. Variables are
// moved as raw bits by element width, so no real type is needed.

#ifndef INDEX_T
#define INDEX_T unsigned short
#endif

// One row of the removal (host and device, so a host harness can check the rule without a GPU).
__host__ __device__ inline int pynn_sparsegpu_rows_remove_row(
    const unsigned char* mask, INDEX_T* ind, int* src, const int length)
{
    int killed = 0;
    for (int c = 0; c < length; ++c) {
        killed += mask[c] != 0;
    }
    const int new_length = length - killed;
    int donor = new_length;                      // next candidate survivor in the tail [new_length, length)
    for (int c = 0; c < new_length; ++c) {
        if (mask[c]) {
            while (mask[donor]) {
                ++donor;                         // a masked tail slot: removed, not moved
            }
            ind[c] = ind[donor];
            src[c] = donor;
            ++donor;
        } else {
            src[c] = -1;
        }
    }
    return new_length;
}

extern "C" __global__ void pynn_sparsegpu_rows_remove(
    const unsigned char* __restrict__ mask, INDEX_T* __restrict__ ind, int* __restrict__ row_length,
    int* __restrict__ src, const int n_pre, const int capacity)
{
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < n_pre; r += gridDim.x * blockDim.x) {
        const long long base = (long long)r * capacity;
        row_length[r] = pynn_sparsegpu_rows_remove_row(mask + base, ind + base, src + base, row_length[r]);
    }
}

template <typename T>
__device__ inline void pynn_sparsegpu_rows_gather(
    T* __restrict__ values, const int* __restrict__ row_length, const int* __restrict__ src,
    const int n_pre, const int capacity)
{
    for (int r = blockIdx.x; r < n_pre; r += gridDim.x) {
        const long long base = (long long)r * capacity;
        const int length = row_length[r];        // the new length: only slots below it can have moved
        for (int c = threadIdx.x; c < length; c += blockDim.x) {
            const int from = src[base + c];
            if (from >= 0) {
                values[base + c] = values[base + from];
            }
        }
    }
}

#define PYNN_SPARSEGPU_ROWS_GATHER(NAME, T)                                                                  \
    extern "C" __global__ void pynn_sparsegpu_rows_gather_##NAME(                                            \
        T* __restrict__ values, const int* __restrict__ row_length, const int* __restrict__ src,             \
        const int n_pre, const int capacity)                                                                 \
    {                                                                                                        \
        pynn_sparsegpu_rows_gather<T>(values, row_length, src, n_pre, capacity);                             \
    }

PYNN_SPARSEGPU_ROWS_GATHER(u8, unsigned char)
PYNN_SPARSEGPU_ROWS_GATHER(u16, unsigned short)
PYNN_SPARSEGPU_ROWS_GATHER(u32, unsigned int)
PYNN_SPARSEGPU_ROWS_GATHER(u64, unsigned long long)
