// The device clock: the step index every kernel reads (*clock). On the CPU the driver advances it; on CUDA this
// one-thread kernel does, as the last launch of each step, so that a CUDA graph of several steps replays with
// the right step index in every kernel.
//
// Slots: 0 clock (long long*)

#include "psg_portable.h"

PSG_KERNEL void pynn_sparsegpu_clock_tick(const psg_slot* PSG_RESTRICT a)
{
    PSG_ONCE { *PSG_PTR(long long, a, 0) += 1; }
}
