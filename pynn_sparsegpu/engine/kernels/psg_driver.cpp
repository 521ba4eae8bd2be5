// The CPU driver: runs a program (a list of kernels with their argument slots) for many steps inside compiled
// code, so no Python runs between steps. A step calls every kernel of the list once, in order, then advances the
// device clock. On CUDA the same list is launched from Python (or replayed as a CUDA graph) instead.
//
// pynn_sparsegpu_run(ops, n_ops, clock, n_steps, stops, n_stops, launches) -> steps done
//   Runs up to n_steps steps. After each step it checks the stop conditions: pairs (counter, limit) in `stops`;
//   when any *counter > limit (a record buffer that might not hold another step), it returns early, so the caller
//   can empty the buffer and continue. *launches counts kernel calls.
// pynn_sparsegpu_run_ops(ops, n_ops, launches)
//   Calls the kernels once without advancing the clock (a part of a step, between Python parts of it).

#include "psg_portable.h"

typedef void (*psg_kernel_fn)(const psg_slot*);

struct psg_op {
    psg_kernel_fn fn;
    const psg_slot* args;
};

PSG_KERNEL long long pynn_sparsegpu_run(const psg_op* ops, long long n_ops, long long* clock, long long n_steps,
                                        const long long* stops, long long n_stops, long long* launches)
{
    long long done = 0;
    while (done < n_steps) {
        for (long long i = 0; i < n_ops; ++i) {
            ops[i].fn(ops[i].args);
        }
        *launches += n_ops;
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

PSG_KERNEL void pynn_sparsegpu_run_ops(const psg_op* ops, long long n_ops, long long* launches)
{
    for (long long i = 0; i < n_ops; ++i) {
        ops[i].fn(ops[i].args);
    }
    *launches += n_ops;
}
