// The CPU driver: runs a program (a list of kernels with their argument slots) for many steps inside compiled
// code, so no Python runs between steps. A step calls the kernels of the list in order, then advances the device
// clock; a kernel with a period is called only at the steps k with (k + phase) % period == 0 (a rewiring batch).
// On CUDA the same list is launched from Python (or replayed as a CUDA graph) instead.
//
// pynn_sparsegpu_run(ops, n_ops, clock, n_steps, stops, n_stops, launches) -> steps done
//   Runs up to n_steps steps. After each step it checks the stop conditions: pairs (counter, limit) in `stops`;
//   when any *counter > limit (a record buffer that might not hold another step), it returns early, so the caller
//   can empty the buffer and continue. *launches counts kernel calls.
// pynn_sparsegpu_run_ops(ops, n_ops, clock, launches)
//   Calls the kernels due at step *clock once without advancing the clock (a part of a step, between Python
//   parts of it).

#include "psg_portable.h"

typedef void (*psg_kernel_fn)(const psg_slot*);

struct psg_op {
    psg_kernel_fn fn;
    const psg_slot* args;
    long long period;      // >= 1
    long long phase;
};

static inline long long psg_call_due(const psg_op* ops, long long n_ops, long long step)
{
    long long calls = 0;
    for (long long i = 0; i < n_ops; ++i) {
        if (ops[i].period > 1 && (step + ops[i].phase) % ops[i].period != 0) {
            continue;
        }
        ops[i].fn(ops[i].args);
        ++calls;
    }
    return calls;
}

PSG_KERNEL long long pynn_sparsegpu_run(const psg_op* ops, long long n_ops, long long* clock, long long n_steps,
                                        const long long* stops, long long n_stops, long long* launches)
{
    long long done = 0;
    while (done < n_steps) {
        *launches += psg_call_due(ops, n_ops, *clock);
        *clock += 1;
        ++done;
        bool stop = false;
        for (long long s = 0; s < n_stops; ++s) {
            const long long* counter = (const long long*)stops[2 * s];
            stop = stop || *counter > stops[2 * s + 1];
        }
        if (stop) {
            break;
        }
    }
    return done;
}

// The number of CPU threads the kernels may use (sim.setup(threads=N); 1 without OpenMP).
PSG_KERNEL int pynn_sparsegpu_set_threads(int threads)
{
#if PSG_OPENMP
    omp_set_num_threads(threads > 0 ? threads : 1);
    return omp_get_max_threads();
#else
    (void)threads;
    return 1;
#endif
}

PSG_KERNEL void pynn_sparsegpu_run_ops(const psg_op* ops, long long n_ops, const long long* clock,
                                       long long* launches)
{
    *launches += psg_call_due(ops, n_ops, *clock);
}
