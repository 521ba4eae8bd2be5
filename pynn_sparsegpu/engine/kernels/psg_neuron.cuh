// What every population's step kernel does besides its model's equations (the kernels themselves are generated
// from the models' Python steps by engine/compiled/codegen.py and include this file).
//
// In one launch per population per step, per neuron i:
//   1. read and clear its ring-buffer slot:  syn[r] = ring[slot][r][i], slot = step % n_slots
//   2. read and clear its injected current:  i_stim[i]  (the electrodes add the next step's current later;
//      a population no current source targets has a kernel that takes it as 0 and reads nothing)
//   3. the model's update (generated), giving the neuron's spike count counts[i] (0 = none)
//   then, in a second loop over the same neurons (psg_neuron_publish):
//   4. a spiking neuron is appended to the compact spike list of this step (spike_list,
//      spike_count[step & 1]), pushes step + 1 into its post-spike history (a shift register, newest first)
//      and its last-spike stamp, and adds an event to each spike recorder that records it
//   5. state recorders due this step ((step + 1) % interval == 0) copy the neuron's new value into their row
// The update loop has no branches that depend on other neurons, so the compiler can vectorise it.
//
// Argument slots common to every population kernel (the model's own arrays follow from PSG_NEURON_SLOTS):
//    0 clock (long long*)        1 n                        2 ring (real*)          3 n_slots
//    4 n_receptors               5 i_stim (real*)           6 counts (int*)         7 spike_list (int*)
//    8 spike_count (int*, [2])   9 history stamps (long long*, [n, depth] or 0)     10 history count (long long*)
//   11 history depth            12 last_spike (long long*, or 0)
//   13 spike recorders          14 their table: per recorder 6 slots
//                                  chan_of (int*, -1 = not recorded), ev_step (long long*), ev_chan (int*),
//                                  ev_mult (int*), ev_n (long long*), capacity
//   15 state recorders          16 their table: per recorder 6 slots
//                                  source (real*), chan_of (int*), buffer (real*, [rows, n_rec]), n_rec,
//                                  interval, row_offset (long long*: row = (step + 1) / interval + *row_offset)
//   17 cell0: the population-wide index of neuron 0 (nonzero when several processes share the population;
//      random draws are keyed by cell0 + i, so they do not depend on the number of processes)
//
// The spike list is double-buffered by step parity: the kernel of step k appends to spike_count[k & 1] and
// clears spike_count[(k + 1) & 1] for the next step, so no separate launch resets it.

#ifndef PYNN_SPARSEGPU_NEURON_CUH
#define PYNN_SPARSEGPU_NEURON_CUH

#include "psg_portable.h"

#define PSG_NEURON_SLOTS 18
#define PSG_SPIKE_REC_SLOTS 6
#define PSG_STATE_REC_SLOTS 6

template <typename REAL>
struct psg_neuron_common {
    long long step, n, n_slots, n_receptors, cell0;
    REAL* ring;
    REAL* i_stim;
    int* counts;
    int* spike_list;
    int* spike_count;
    long long* hist_stamps;
    long long* hist_count;
    long long hist_depth;
    long long* last_spike;
    long long n_spike_rec;
    const psg_slot* spike_rec;
    long long n_state_rec;
    const psg_slot* state_rec;
};

template <typename REAL>
PSG_FN psg_neuron_common<REAL> psg_neuron_unpack(const psg_slot* a)
{
    psg_neuron_common<REAL> c;
    c.step = *PSG_PTR(const long long, a, 0);
    c.n = PSG_INT(a, 1);
    c.ring = PSG_PTR(REAL, a, 2);
    c.n_slots = PSG_INT(a, 3);
    c.n_receptors = PSG_INT(a, 4);
    c.i_stim = PSG_PTR(REAL, a, 5);
    c.counts = PSG_PTR(int, a, 6);
    c.spike_list = PSG_PTR(int, a, 7);
    c.spike_count = PSG_PTR(int, a, 8);
    c.hist_stamps = PSG_PTR(long long, a, 9);
    c.hist_count = PSG_PTR(long long, a, 10);
    c.hist_depth = PSG_INT(a, 11);
    c.last_spike = PSG_PTR(long long, a, 12);
    c.n_spike_rec = PSG_INT(a, 13);
    c.spike_rec = PSG_PTR(const psg_slot, a, 14);
    c.n_state_rec = PSG_INT(a, 15);
    c.state_rec = PSG_PTR(const psg_slot, a, 16);
    c.cell0 = PSG_INT(a, 17);
    return c;
}

// The row of this step's ring-buffer slot for receptor r (entry i is neuron i's input).
template <typename REAL>
PSG_FN REAL* psg_neuron_ring(const psg_neuron_common<REAL>& c, long long r)
{
    return c.ring + ((c.step % c.n_slots) * c.n_receptors + r) * c.n;
}

// Before the loop over neurons: clear the other parity's spike count for the next step.
template <typename REAL>
PSG_FN void psg_neuron_begin(const psg_neuron_common<REAL>& c)
{
    PSG_ONCE { c.spike_count[(c.step + 1) & 1] = 0; }
}

// Step 4 for one neuron that fired `count` spikes, once it is in the spike list: its post-spike history,
// last-spike stamp and spike records.
template <typename REAL>
PSG_FN void psg_neuron_after_spike(const psg_neuron_common<REAL>& c, long long i, int count)
{
    if (c.hist_stamps) {
        long long* row = c.hist_stamps + i * c.hist_depth;
        for (long long j = c.hist_depth - 1; j > 0; --j) {
            row[j] = row[j - 1];
        }
        row[0] = c.step + 1;
        c.hist_count[i] += 1;
    }
    if (c.last_spike) {
        c.last_spike[i] = c.step + 1;
    }
    for (long long r = 0; r < c.n_spike_rec; ++r) {
        const psg_slot* rec = c.spike_rec + r * PSG_SPIKE_REC_SLOTS;
        const int chan = PSG_PTR(const int, rec, 0)[i];
        if (chan < 0) {
            continue;
        }
        long long* ev_n = PSG_PTR(long long, rec, 4);
        const long long e = psg_atomic_add(ev_n, 1LL);
        if (e < PSG_INT(rec, 5)) {
            PSG_PTR(long long, rec, 1)[e] = c.step;
            PSG_PTR(int, rec, 2)[e] = chan;
            PSG_PTR(int, rec, 3)[e] = count;
        }
    }
}

#if PSG_OPENMP
// The spike list of a large population with several threads: each thread compacts a contiguous block of
// neurons, and the blocks are concatenated in order, so the list is in index order as with one thread.
template <typename REAL>
static void psg_neuron_compact_parallel(const psg_neuron_common<REAL>& c)
{
    int offsets[PSG_MAX_THREADS + 1];
    int total = 0;
    const int threads = psg_threads() < PSG_MAX_THREADS ? psg_threads() : PSG_MAX_THREADS;
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const long long lo = c.n * t / nt, hi = c.n * (t + 1) / nt;
        int local = 0;
        for (long long i = lo; i < hi; ++i) {
            local += c.counts[i] > 0;
        }
        offsets[t + 1] = local;
#pragma omp barrier
#pragma omp single
        {
            offsets[0] = 0;
            for (int k = 0; k < nt; ++k) {
                offsets[k + 1] += offsets[k];
            }
            total = offsets[nt];
        }
        int k = offsets[t];
        for (long long i = lo; i < hi; ++i) {
            if (c.counts[i] > 0) {
                c.spike_list[k++] = (int)i;
            }
        }
    }
    c.spike_count[c.step & 1] = total;
}
#endif

// Steps 4 and 5, after the update loop has written counts[i]: the spiking neurons are published (in index
// order on the CPU), and the state recorders due this step take their samples. On CUDA each thread reads only
// the neurons it updated (the same grid-stride mapping), so no synchronisation is needed between the loops.
template <typename REAL>
PSG_FN void psg_neuron_publish(const psg_neuron_common<REAL>& c)
{
#if PSG_OPENMP
    if (c.n >= PSG_OMP_MIN_ELEMENTS && psg_threads() > 1) {
        psg_neuron_compact_parallel(c);
        const int n_spikes = c.spike_count[c.step & 1];
        for (int s = 0; s < n_spikes; ++s) {
            const int i = c.spike_list[s];
            psg_neuron_after_spike(c, i, c.counts[i]);
        }
    } else
#endif
    {
#if defined(PSG_CUDA)
        PSG_FOR(i, c.n) {
            const int count = c.counts[i];
            if (count > 0) {
                const int k = psg_atomic_inc(&c.spike_count[c.step & 1]);
                c.spike_list[k] = (int)i;
                psg_neuron_after_spike(c, i, count);
            }
        }
#else
        // Most neurons are silent in a step: look at 16 counts at a time (a vectorised test) and only
        // within a block that holds a spike at each neuron.
        long long i0 = 0;
        for (; i0 + 16 <= c.n; i0 += 16) {
            int any = 0;
            for (int j = 0; j < 16; ++j) {
                any |= c.counts[i0 + j];
            }
            if (!any) {
                continue;
            }
            for (long long i = i0; i < i0 + 16; ++i) {
                const int count = c.counts[i];
                if (count > 0) {
                    c.spike_list[c.spike_count[c.step & 1]++] = (int)i;
                    psg_neuron_after_spike(c, i, count);
                }
            }
        }
        for (long long i = i0; i < c.n; ++i) {
            const int count = c.counts[i];
            if (count > 0) {
                c.spike_list[c.spike_count[c.step & 1]++] = (int)i;
                psg_neuron_after_spike(c, i, count);
            }
        }
#endif
    }
    for (long long r = 0; r < c.n_state_rec; ++r) {
        const psg_slot* rec = c.state_rec + r * PSG_STATE_REC_SLOTS;
        const long long interval = PSG_INT(rec, 4);
        if ((c.step + 1) % interval != 0) {
            continue;
        }
        const REAL* source = PSG_PTR(const REAL, rec, 0);
        const int* chan_of = PSG_PTR(const int, rec, 1);
        REAL* buffer = PSG_PTR(REAL, rec, 2) + ((c.step + 1) / interval + *PSG_PTR(const long long, rec, 5))
                       * PSG_INT(rec, 3);
        PSG_FOR(i, c.n) {
            const int chan = chan_of[i];
            if (chan >= 0) {
                buffer[chan] = source[i];
            }
        }
    }
}

#endif  // PYNN_SPARSEGPU_NEURON_CUH
