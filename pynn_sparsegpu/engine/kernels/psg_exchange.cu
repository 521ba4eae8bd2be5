// The spike exchange between processes (engine/parallel/exchange.py), in two kernels around the host's
// MPI_Allgatherv once per block of D steps (D = the network's shortest delay, so no spike is needed before the
// block after the one that made it).
//
// pynn_sparsegpu_exchange_collect: after a population's step kernel, every spike of this step is appended to the
// process's send buffer as (tag, population-wide cell index, count), tag = (step - block_start) * n_groups + g.
//   Slots: 0 clock (long long*), 1 counts (int*), 2 spike_list (int*), 3 spike_count (int*, [2]), 4 cell0,
//          5 g, 6 n_groups, 7 block_start (long long*), 8 out (int*, [capacity, 3]), 9 out_n (long long*),
//          10 capacity
//   The capacity holds one entry per cell and step of a block, so it cannot overflow.
//
// pynn_sparsegpu_exchange_load: before the propagation of a population's spikes, the spikes of this step from
// every process become the population-wide spike list and counts that the propagation kernels read (counts are
// read only at listed cells, so none are cleared). The gathered entries are `runs` runs, each sorted by tag and
// then cell, whose cells rise from run to run (on the CPU build a run is a process's entries, as it sent them;
// the GPU path sorts them into one run): a step's list is its entries of run 0, then of run 1, ..., in cell
// order.
//   Slots: 0 clock (long long*), 1 counts (int*, [n_total]), 2 spike_list (int*), 3 spike_count (int*, [2]),
//          4 received (const int*, [*, 3]), 5 offsets (const long long*, [runs, D * n_groups + 1]: per run, the
//          first entry of each tag, and its end), 6 n_groups, 7 g, 8 block_start (long long*), 9 runs,
//          10 D * n_groups + 1, 11 last_spike (long long*, [n_total], or 0): the population-wide last-spike
//          stamps (step + 1) that structural plasticity reads, kept here when a rule needs them

#include "psg_portable.h"

PSG_KERNEL void pynn_sparsegpu_exchange_collect(const psg_slot* PSG_RESTRICT a)
{
    const long long step = *PSG_PTR(const long long, a, 0);
    const int* counts = PSG_PTR(const int, a, 1);
    const int* spike_list = PSG_PTR(const int, a, 2);
    const int n_spikes = PSG_PTR(const int, a, 3)[step & 1];
    const long long cell0 = PSG_INT(a, 4);
    const long long tag = (step - *PSG_PTR(const long long, a, 7)) * PSG_INT(a, 6) + PSG_INT(a, 5);
    int* out = PSG_PTR(int, a, 8);
    long long* out_n = PSG_PTR(long long, a, 9);
    const long long capacity = PSG_INT(a, 10);
    PSG_FOR(j, n_spikes) {
        const int i = spike_list[j];
        const long long e = psg_atomic_add(out_n, 1LL);
        if (e < capacity) {
            out[3 * e] = (int)tag;
            out[3 * e + 1] = (int)(cell0 + i);
            out[3 * e + 2] = counts[i];
        }
    }
}

PSG_KERNEL void pynn_sparsegpu_exchange_load(const psg_slot* PSG_RESTRICT a)
{
    const long long step = *PSG_PTR(const long long, a, 0);
    int* counts = PSG_PTR(int, a, 1);
    int* spike_list = PSG_PTR(int, a, 2);
    int* spike_count = PSG_PTR(int, a, 3);
    const int* received = PSG_PTR(const int, a, 4);
    const long long* offsets = PSG_PTR(const long long, a, 5);
    const long long tag = (step - *PSG_PTR(const long long, a, 8)) * PSG_INT(a, 6) + PSG_INT(a, 7);
    const long long runs = PSG_INT(a, 9), stride = PSG_INT(a, 10);
    long long* last_spike = PSG_PTR(long long, a, 11);
    long long base = 0;
    for (long long r = 0; r < runs; ++r) {
        const long long lo = offsets[r * stride + tag], n = offsets[r * stride + tag + 1] - lo;
        PSG_FOR(j, n) {
            const int i = received[3 * (lo + j) + 1];
            spike_list[base + j] = i;
            counts[i] = received[3 * (lo + j) + 2];
            if (last_spike) {
                last_spike[i] = step + 1;
            }
        }
        base += n;
    }
    PSG_ONCE { spike_count[step & 1] = (int)base; }
}
