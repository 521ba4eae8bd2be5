// Portability layer: one kernel source for the host C++ compiler (the compiled CPU path) and for CUDA
// (NVRTC through cupy.RawModule, or nvcc).
//
// A kernel is written once as
//
//     PSG_KERNEL void pynn_sparsegpu_<concern>_<op>(const psg_slot* PSG_RESTRICT a)
//     {
//         ... unpack its arguments from the slots a[0], a[1], ... (PSG_PTR, PSG_INT, PSG_REAL) ...
//         PSG_FOR(i, n) { ... one element ... }
//     }
//
// Every kernel takes a single pointer to an array of 64-bit argument slots (pointers, integers, doubles bit
// for bit), so the CPU driver can call any kernel through one function-pointer type and a CUDA graph can replay
// a kernel whose arguments live in device memory. The step index is never an argument: kernels read it from a
// device clock (`*clock`), which the program advances once per step.
//
//   PSG_FOR(i, n)          every i in [0, n): a grid-stride loop on CUDA, a plain loop on the CPU
//   PSG_FOR_EACH(i, n)     the same, for a loop whose iterations touch disjoint data (element-wise updates):
//                          the CPU compiler is told so, which lets it vectorise a loop over many arrays
//   PSG_FOR_BLOCKS(i, n)   one item per block (CUDA), e.g. a row per spike; a plain loop on the CPU
//   PSG_FOR_THREADS(j, n)  the threads of a block share [0, n) (CUDA); a plain loop on the CPU
//   PSG_ONCE               the body runs once per launch (block 0, thread 0 on CUDA)
//   psg_atomic_add(p, v)   *p += v, atomically on CUDA; returns the old value
//   psg_atomic_inc(p)      (*p)++, atomically on CUDA; returns the old value
//   psg_atomic_exch(p, v)  *p = v, atomically on CUDA; returns the old value
//
// On the CPU the loops run in index order, so results are deterministic and equal to the NumPy reference where
// that adds in the same order. NVRTC sees no standard headers, so nothing here includes one on CUDA.
//
// Threads on the CPU (OpenMP, sim.setup(threads=N)): PSG_OPENMP is 1 when the CPU build has OpenMP. Kernels use
// threads only where the result cannot depend on them: element-wise loops over at least PSG_OMP_MIN_ELEMENTS
// elements, spike lists compacted in index order, and sums into ring buffers split by target, so that every
// target still receives its inputs in the serial order. psg_threads() is the number of threads to use.

#ifndef PYNN_SPARSEGPU_PORTABLE_H
#define PYNN_SPARSEGPU_PORTABLE_H

typedef unsigned long long psg_slot;

#if defined(__CUDACC__)

#define PSG_CUDA 1
#define PSG_KERNEL extern "C" __global__
#define PSG_FN __device__ __forceinline__
#define PSG_RESTRICT __restrict__
#define PSG_FOR(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
         i += (long long)gridDim.x * blockDim.x)
#define PSG_FOR_EACH(i, n) PSG_FOR(i, n)
#define PSG_FOR_BLOCKS(i, n) for (long long i = blockIdx.x; i < (long long)(n); i += gridDim.x)
#define PSG_FOR_THREADS(j, n) for (long long j = threadIdx.x; j < (long long)(n); j += blockDim.x)
#define PSG_ONCE if (blockIdx.x == 0 && threadIdx.x == 0)
#define PSG_OPENMP 0

PSG_FN float psg_atomic_add(float* p, float v) { return atomicAdd(p, v); }
PSG_FN double psg_atomic_add(double* p, double v) { return atomicAdd(p, v); }
PSG_FN int psg_atomic_add(int* p, int v) { return atomicAdd(p, v); }
PSG_FN long long psg_atomic_add(long long* p, long long v)
{
    return (long long)atomicAdd((unsigned long long*)p, (unsigned long long)v);
}
PSG_FN int psg_atomic_inc(int* p) { return atomicAdd(p, 1); }
PSG_FN int psg_atomic_exch(int* p, int v) { return atomicExch(p, v); }

#else

#include <cmath>
#include <cstring>
#if defined(_OPENMP)
#include <omp.h>
#define PSG_OPENMP 1
#else
#define PSG_OPENMP 0
#endif

#define PSG_KERNEL extern "C" __attribute__((visibility("default")))
#define PSG_FN static inline
#define PSG_RESTRICT __restrict__
#define PSG_FOR(i, n) for (long long i = 0; i < (long long)(n); ++i)
#if defined(__clang__)
#define PSG_FOR_EACH(i, n) _Pragma("clang loop vectorize(assume_safety)") PSG_FOR(i, n)
#elif defined(__GNUC__)
#define PSG_FOR_EACH(i, n) _Pragma("GCC ivdep") PSG_FOR(i, n)
#else
#define PSG_FOR_EACH(i, n) PSG_FOR(i, n)
#endif
#define PSG_FOR_BLOCKS(i, n) PSG_FOR(i, n)
#define PSG_FOR_THREADS(j, n) PSG_FOR(j, n)
#define PSG_ONCE

using std::exp; using std::expm1; using std::log; using std::log1p; using std::sqrt; using std::pow;
using std::sin; using std::cos; using std::tanh; using std::floor; using std::ceil; using std::rint;
using std::fabs;

template <typename T> PSG_FN T psg_atomic_add(T* p, T v) { const T old = *p; *p = old + v; return old; }
PSG_FN int psg_atomic_inc(int* p) { return (*p)++; }
PSG_FN int psg_atomic_exch(int* p, int v) { const int old = *p; *p = v; return old; }

#if PSG_OPENMP
PSG_FN int psg_threads() { return omp_get_max_threads(); }
#else
PSG_FN int psg_threads() { return 1; }
#endif

#endif

#define PSG_OMP_MIN_ELEMENTS 4096
#define PSG_MAX_THREADS 256

// --- argument slots ----------------------------------------------------------------------------------------
#define PSG_PTR(T, a, k) ((T*)(a)[k])
#define PSG_INT(a, k) ((long long)(a)[k])

PSG_FN double psg_as_double(psg_slot v)
{
    union { psg_slot u; double d; } x;
    x.u = v;
    return x.d;
}
#define PSG_REAL(a, k) psg_as_double((a)[k])

PSG_FN double psg_inf() { return psg_as_double(0x7FF0000000000000ULL); }
PSG_FN double psg_nan() { return psg_as_double(0x7FF8000000000000ULL); }

// NumPy's minimum/maximum: NaN propagates from either side; ties keep the first operand.
template <typename T> PSG_FN T psg_minimum(T a, T b) { return (a <= b || a != a) ? a : b; }
template <typename T> PSG_FN T psg_maximum(T a, T b) { return (a >= b || a != a) ? a : b; }

// An unsigned index of 1, 2, 4 or 8 bytes (ragged rows store the narrowest type that fits n_post).
PSG_FN long long psg_load_index(const void* base, int bytes, long long k)
{
    switch (bytes) {
    case 1: return ((const unsigned char*)base)[k];
    case 2: return ((const unsigned short*)base)[k];
    case 4: return ((const unsigned int*)base)[k];
    default: return (long long)((const unsigned long long*)base)[k];
    }
}

#endif  // PYNN_SPARSEGPU_PORTABLE_H
