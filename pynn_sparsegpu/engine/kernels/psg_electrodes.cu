// Current sources (engine/electrodes.py): one launch per step adds every electrode's current for the next step
// into its targets' injected current i_stim (the population kernels read and clear i_stim at their step).
// At step k the current is A(t) with t = (k + 1) dt, computed as the reference computes it:
//   DC     amplitude when start - 1e-9 <= t < stop - 1e-9, else 0
//   step   amplitudes[j] for the last j with times[j] <= t + 1e-9 (0 before times[0])
//   AC     offset + amplitude sin(2 pi frequency (t - start) / 1000 + phase pi / 180) inside [start, stop)
//          (sin from the C library, which Python's math.sin also calls)
//   noise  mean + stdev z inside [start, stop), z ~ N(0, 1) from the electrode's Philox stream at counter
//          (target position, draw, period number (s - s0) / m), s = k + 1, s0 the first time index in the window,
//          m the number of steps per draw; each target keeps its value and period number (a cache, so a new
//          normal is drawn once per period)
// Electrodes are taken in the reference's order (electrode by electrode, target by target), so on the CPU every
// i_stim receives the same sums in the same order; a current of exactly 0 from DC, step or AC adds nothing (as
// in the reference). On CUDA targets shared by several electrodes are added atomically.
//
// pynn_sparsegpu_electrodes_{f32,f64}
//   Slots: 0 clock (long long*)  1 dt  2 number of rows  3 table: per row (one electrode's one target group)
//   PSG_ELECTRODE_ROW_SLOTS slots:
//     0 kind (0 DC, 1 step, 2 AC, 3 noise)  1 i_stim (real*)  2 cells (long long*)  3 positions (long long*:
//     the cell's place in the electrode's value vector, offset included)  4 n  5 start  6 stop
//     7 DC/AC amplitude, noise mean  8 AC offset, noise stdev  9 AC frequency  10 AC phase
//     11 step times (double*)  12 step amplitudes (double*)  13 number of steps  14 noise key  15 noise s0
//     16 noise m  17 noise cached values (double*, [n])  18 noise cached period numbers (long long*, [n], -1: none)
// pynn_sparsegpu_electrodes_clear_{f32,f64}: zero i_stim of populations that run on the reference path (their
//   step does not clear it). Slots: 0 number of rows, 1 table: per row i_stim (real*), n.

#include "psg_portable.h"
#include "psg_variates.h"

#define PSG_ELECTRODE_ROW_SLOTS 19

template <typename REAL>
PSG_FN void psg_electrodes_clear(const psg_slot* PSG_RESTRICT a)
{
    const long long n_rows = PSG_INT(a, 0);
    const psg_slot* table = PSG_PTR(const psg_slot, a, 1);
    for (long long r = 0; r < n_rows; ++r) {
        REAL* i_stim = PSG_PTR(REAL, table + 2 * r, 0);
        PSG_FOR_EACH(i, PSG_INT(table + 2 * r, 1)) {
            i_stim[i] = (REAL)0;
        }
    }
}

template <typename REAL>
PSG_FN void psg_electrode_add(REAL* i_stim, long long cell, REAL value)
{
    psg_atomic_add(&i_stim[cell], value);
}

template <typename REAL>
PSG_FN void psg_electrodes(const psg_slot* PSG_RESTRICT a)
{
    const long long step = *PSG_PTR(const long long, a, 0);
    const double dt = PSG_REAL(a, 1);
    const long long n_rows = PSG_INT(a, 2);
    const psg_slot* table = PSG_PTR(const psg_slot, a, 3);
    const long long s = step + 1;
    const double t = (double)s * dt;
    for (long long r = 0; r < n_rows; ++r) {
        const psg_slot* row = table + r * PSG_ELECTRODE_ROW_SLOTS;
        const long long kind = PSG_INT(row, 0);
        REAL* i_stim = PSG_PTR(REAL, row, 1);
        const long long* cells = PSG_PTR(const long long, row, 2);
        const long long n = PSG_INT(row, 4);
        const double start = PSG_REAL(row, 5), stop = PSG_REAL(row, 6);
        const bool inside = start - 1e-9 <= t && t < stop - 1e-9;
        if (kind == 3) {
            if (!inside) {
                continue;
            }
            const long long* positions = PSG_PTR(const long long, row, 3);
            const double mean = PSG_REAL(row, 7), stdev = PSG_REAL(row, 8);
            const unsigned long long key = (unsigned long long)PSG_INT(row, 14);
            const long long epoch = (s - PSG_INT(row, 15)) / PSG_INT(row, 16);
            double* value = PSG_PTR(double, row, 17);
            long long* value_epoch = PSG_PTR(long long, row, 18);
            PSG_FOR(j, n) {
                if (value_epoch[j] != epoch) {
                    long long draw = 0;
                    value[j] = mean + stdev * psg_normal(key, positions[j], &draw, epoch);
                    value_epoch[j] = epoch;
                }
#if defined(PSG_CUDA)
                psg_electrode_add(i_stim, cells[j], (REAL)value[j]);
#else
                i_stim[cells[j]] = (REAL)((double)i_stim[cells[j]] + value[j]);   // NumPy: REAL + float64 array
#endif
            }
            continue;
        }
        double amplitude = 0.0;
        if (kind == 0) {
            amplitude = inside ? PSG_REAL(row, 7) : 0.0;
        } else if (kind == 1) {
            const double* times = PSG_PTR(const double, row, 11);
            const double* amps = PSG_PTR(const double, row, 12);
            long long lo = 0, hi = PSG_INT(row, 13);       // the number of times <= t + 1e-9
            const double x = t + 1e-9;
            while (lo < hi) {
                const long long mid = lo + (hi - lo) / 2;
                if (times[mid] <= x) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            amplitude = lo > 0 ? amps[lo - 1] : 0.0;
        } else if (kind == 2) {
            if (inside) {
                const double pi = 3.141592653589793;
                amplitude = PSG_REAL(row, 8) + PSG_REAL(row, 7) * sin(2.0 * pi * PSG_REAL(row, 9) * (t - start) / 1000.0
                                                                      + PSG_REAL(row, 10) * pi / 180.0);
            }
        }
        if (amplitude == 0.0) {
            continue;
        }
        const REAL value = (REAL)amplitude;                  // NumPy: REAL array + Python float (NEP 50)
        PSG_FOR(j, n) {
            psg_electrode_add(i_stim, cells[j], value);
        }
    }
}

PSG_KERNEL void pynn_sparsegpu_electrodes_f32(const psg_slot* PSG_RESTRICT a) { psg_electrodes<float>(a); }
PSG_KERNEL void pynn_sparsegpu_electrodes_f64(const psg_slot* PSG_RESTRICT a) { psg_electrodes<double>(a); }
PSG_KERNEL void pynn_sparsegpu_electrodes_clear_f32(const psg_slot* PSG_RESTRICT a) { psg_electrodes_clear<float>(a); }
PSG_KERNEL void pynn_sparsegpu_electrodes_clear_f64(const psg_slot* PSG_RESTRICT a)
{
    psg_electrodes_clear<double>(a);
}
