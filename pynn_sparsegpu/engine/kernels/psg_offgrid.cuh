// Off-grid (precise) LIF cells on the time grid: one cell's step with its inputs at exact times within the step.
//
// Shared by the compiled CPU loop (psg_offgrid.cpp) and the CUDA kernels (psg_offgrid.cu); engine/offgrid/
// reference.py is the same arithmetic in Python (the test oracle). Model and conventions: engine/offgrid/__init__.py.
//
// Time within a step runs forward, theta in [0, h]: a spike at theta in step k is at time k h + theta (NEST's
// stamp k + 1 and offset h - theta). V is kept relative to v_rest (u = V - v_rest), as NEST's y2_ / U_.
//
//   kind 0  IF_curr_delta (iaf_psc_delta_ps): an input of weight w (mV) makes u jump by w; inputs at one time are
//           summed before the threshold test; input during refractoriness is discarded; a crossing between
//           inputs, driven by i_offset, is located analytically.
//   kind 1  IF_curr_exp (iaf_psc_exp_ps): an input of weight w (nA) adds w to the excitatory (receptor 0) or
//           inhibitory (receptor 1) current; u and both currents are propagated exactly from input to input; the
//           threshold is tested at the end of each interval between inputs, and a crossing found there is
//           located by the Illinois variant of regula falsi to |u - thr| < 1e-14 mV; currents evolve and
//           receive input during refractoriness, while u is clamped at the reset value. A step in which the
//           cell surely stays below threshold (psg_og_exp_cannot_fire) is done at once by superposition.
// Refractoriness lasts ref_steps whole steps from the spike (ending at the same theta ref_steps steps later).

#ifndef PYNN_SPARSEGPU_OFFGRID_CUH
#define PYNN_SPARSEGPU_OFFGRID_CUH

#include "psg_portable.h"

// numpy dtype CELL_DTYPE in engine/offgrid/network.py (same fields, same order, 160 bytes)
struct psg_og_cell {
    double u, ie, ii, free_theta;                       // state (u = V - v_rest; currents nA)
    double tau_m, cm, i_e, thr, reset, v_rest, tau_se, tau_si;   // parameters (thr, reset relative to v_rest)
    double e_m, p20, p21e, p21i, e_se, e_si;            // whole-step propagators (expm1(-h/tau_m), ...)
    long long free_step;                                // refractory until theta = free_theta of this step
    int ref_steps;
    signed char kind, refractory;
    short pad;
};

// The propagator from an exponentially decaying current to u over tau (as neurons/base.py psc_exp_to_v), given
// em = exp(-tau / tau_m).
PSG_FN double psg_og_p21(double tau_s, double tau_m, double cm, double tau, double em)
{
    const double a = 1.0 / tau_m - 1.0 / tau_s;
    const double at = a * tau;
    if (fabs(at) < 1e-5) {
        return em * tau * (1.0 + at / 2.0 + at * at / 6.0) / cm;
    }
    return em * expm1(at) / a / cm;
}

// u of an IF_curr_exp cell tau after a state (u0, ie0, ii0) in which it was free, given em = exp(-tau / tau_m)
// (equal synaptic time constants share one propagator).
PSG_FN double psg_og_exp_u_em(const psg_og_cell& c, double u0, double ie0, double ii0, double tau, double em)
{
    const double p20 = -c.tau_m / c.cm * expm1(-tau / c.tau_m);
    const double pe = psg_og_p21(c.tau_se, c.tau_m, c.cm, tau, em);
    const double pi = c.tau_si == c.tau_se ? pe : psg_og_p21(c.tau_si, c.tau_m, c.cm, tau, em);
    return p20 * c.i_e + pe * ie0 + pi * ii0 + u0 * em;
}

PSG_FN double psg_og_exp_u(const psg_og_cell& c, double u0, double ie0, double ii0, double tau)
{
    return psg_og_exp_u_em(c, u0, ie0, ii0, tau, exp(-tau / c.tau_m));
}

// The time s in (0, tau] at which u crosses thr, from a state (u0 < thr) with u(tau) >= thr: Illinois.
PSG_FN double psg_og_exp_crossing(const psg_og_cell& c, double u0, double ie0, double ii0, double tau)
{
    double a = 0.0, b = tau;
    double fa = u0 - c.thr, fb = psg_og_exp_u(c, u0, ie0, ii0, tau) - c.thr;
    if (!(fa < 0.0)) return 0.0;
    if (!(fb > 0.0)) return tau;
    double root = b;
    int side = 0;
    for (int it = 0; it < 200; ++it) {
        root = (a * fb - b * fa) / (fb - fa);
        const double fr = psg_og_exp_u(c, u0, ie0, ii0, root) - c.thr;
        if (fabs(fr) < 1e-14) break;
        if (fr < 0.0) {
            a = root;
            fa = fr;
            if (side == -1) fb *= 0.5;
            side = -1;
        } else {
            b = root;
            fb = fr;
            if (side == 1) fa *= 0.5;
            side = 1;
        }
        if (!(b - a > 0.0)) break;
    }
    return root;
}

// Inputs ordered by theta, stably (equal times keep their order): an insertion sort (a cell's inputs of one step
// are few).
PSG_FN void psg_og_sort(double* th, double* w, signed char* r, long long m, double* factors = nullptr)
{
    for (long long a = 1; a < m; ++a) {
        const double t = th[a], x = w[a];
        const signed char y = r[a];
        const double f0 = factors ? factors[2 * a] : 0.0, f1 = factors ? factors[2 * a + 1] : 0.0;
        long long b = a;
        while (b > 0 && th[b - 1] > t) {
            th[b] = th[b - 1];
            w[b] = w[b - 1];
            r[b] = r[b - 1];
            if (factors) {
                factors[2 * b] = factors[2 * b - 2];
                factors[2 * b + 1] = factors[2 * b - 1];
            }
            --b;
        }
        th[b] = t;
        w[b] = x;
        r[b] = y;
        if (factors) {
            factors[2 * b] = f0;
            factors[2 * b + 1] = f1;
        }
    }
}

// The cell fires at theta of step k: reset, refractory until theta of step k + ref_steps.
PSG_FN void psg_og_fire(psg_og_cell& c, long long k, double theta)
{
    c.u = c.reset;
    c.refractory = 1;
    c.free_step = k + c.ref_steps;
    c.free_theta = theta;
}

PSG_FN void psg_og_exp_propagate(psg_og_cell& c, double tau)
{
    if (!c.refractory) c.u = psg_og_exp_u(c, c.u, c.ie, c.ii, tau);
    const double es = exp(-tau / c.tau_se);
    c.ie *= es;
    c.ii *= c.tau_si == c.tau_se ? es : exp(-tau / c.tau_si);
}

PSG_FN void psg_og_delta_propagate(psg_og_cell& c, double tau)
{
    const double e = expm1(-tau / c.tau_m);
    const double v_inf = c.tau_m / c.cm * c.i_e;
    c.u = -v_inf * e + c.u * e + c.u;
}

// theta of a drive-caused crossing of an IF_curr_delta cell found above threshold at theta t.
PSG_FN double psg_og_delta_crossing(const psg_og_cell& c, double t)
{
    const double v_inf = c.tau_m / c.cm * c.i_e;
    const double back = -c.tau_m * log((v_inf - c.u) / (v_inf - c.thr));
    return (back > 0.0 && back <= t) ? t - back : (back > t ? 0.0 : t);
}

// What an input of weight 1 at receptor rec, tau before the end of the step, adds by then to u (*fu) and, as a
// factor, to its current (*fi): the superposition step's factors (they depend on the cell's time constants
// and capacitance and on tau only, so inputs of one spike to cells of one kind share them).
PSG_FN void psg_og_input_factors(const psg_og_cell& c, int rec, double tau, double* fu, double* fi)
{
    const double ts = rec == 0 ? c.tau_se : c.tau_si;
    *fu = psg_og_p21(ts, c.tau_m, c.cm, tau, exp(-tau / c.tau_m));
    *fi = exp(-tau / ts);
}

// Whether a free IF_curr_exp cell surely stays below threshold throughout a step with inputs w (receptor rec):
// its total current stays below I_max = i_e + max(ie, 0) + max(ii, 0) + the positive weights, so V stays below
// the solution under I_max, u0 + max(0, R I_max - u0) (1 - e^(-h/tau_m)) <= u0 + max(0, R I_max - u0) h/tau_m
// (R = tau_m / cm), checked with a margin for rounding.
PSG_FN bool psg_og_exp_cannot_fire(const psg_og_cell& c, double h, const double* w, const signed char* rec,
                                   long long m)
{
    double i_max = c.i_e + (c.ie > 0.0 ? c.ie : 0.0) + (c.ii > 0.0 ? c.ii : 0.0);
    for (long long j = 0; j < m; ++j) {
        if (w[j] > 0.0) i_max += w[j];
    }
    (void)rec;
    const double rise = c.tau_m / c.cm * i_max - c.u;
    const double bound = c.u + (rise > 0.0 ? rise * h / c.tau_m : 0.0);
    return bound < c.thr - 1e-9 * (fabs(c.thr) + 1.0);
}

// A step without inputs, in which refractoriness does not end: the whole-step propagators. Returns 1 and sets
// *spike_theta when the cell fires (small enough to be inlined into the loops over cells).
PSG_FN int psg_og_whole_step(psg_og_cell& c, long long k, double h, double* spike_theta)
{
    int fired = 0;
    if (c.kind == 1) {
        if (!c.refractory) {
            const double u0 = c.u, ie0 = c.ie, ii0 = c.ii;
            c.u = c.p20 * c.i_e + c.p21e * c.ie + c.p21i * c.ii + c.e_m * c.u + c.u;
            c.ie *= c.e_se;
            c.ii *= c.e_si;
            if (c.u >= c.thr) {
                const double s = psg_og_exp_crossing(c, u0, ie0, ii0, h);
                *spike_theta = s;
                psg_og_fire(c, k, s);
                fired = 1;
            }
        } else {
            c.ie *= c.e_se;
            c.ii *= c.e_si;
        }
    } else if (!c.refractory) {
        const double v_inf = c.tau_m / c.cm * c.i_e;
        c.u = -v_inf * c.e_m + c.e_m * c.u + c.u;
        if (c.u >= c.thr) {
            const double s = psg_og_delta_crossing(c, h);
            *spike_theta = s;
            psg_og_fire(c, k, s);
            fired = 1;
        }
    }
    return fired;
}

// One step k (length h) of one cell, with its m inputs at theta[j] (sorted, ascending; equal times keep the
// order of arrival), weight w[j], receptor rec[j]; factors (optional): psg_og_input_factors of each input,
// (fu, fi) pairs, computed in advance. Returns 1 and sets *spike_theta when the cell fires.
PSG_FN int psg_og_cell_step(psg_og_cell& c, long long k, double h, const double* theta, const double* w,
                            const signed char* rec, long long m, double* spike_theta,
                            const double* factors = nullptr)
{
    int fired = 0;
    const bool ends = c.refractory && c.free_step == k;     // refractoriness ends within this step
    if (c.refractory && c.free_step < k) c.refractory = 0;  // (cells set free between runs)
    if (m == 0 && !ends) return psg_og_whole_step(c, k, h, spike_theta);
    if (c.kind == 1 && !ends && !c.refractory && psg_og_exp_cannot_fire(c, h, w, rec, m)) {
        // no crossing is possible in this step: the end of the step by superposition, the whole-step
        // propagation of the state plus each input's contribution over the rest of the step
        c.u = c.p20 * c.i_e + c.p21e * c.ie + c.p21i * c.ii + c.e_m * c.u + c.u;
        c.ie *= c.e_se;
        c.ii *= c.e_si;
        for (long long j = 0; j < m; ++j) {
            double fu, fi;
            if (factors) {
                fu = factors[2 * j];
                fi = factors[2 * j + 1];
            } else {
                psg_og_input_factors(c, rec[j], h - theta[j], &fu, &fi);
            }
            c.u += fu * w[j];
            if (rec[j] == 0) c.ie += w[j] * fi; else c.ii += w[j] * fi;
        }
        return 0;
    }
    double t = 0.0;
    bool pending_end = ends;
    long long j = 0;
    while (j < m || pending_end) {
        const bool is_end = pending_end && (j >= m || c.free_theta <= theta[j]);
        const double te = is_end ? c.free_theta : theta[j];
        if (c.kind == 1) {
            const double tau = te - t;
            if (tau > 0.0) {
                const double u0 = c.u, ie0 = c.ie, ii0 = c.ii;
                const bool was_free = !c.refractory;
                psg_og_exp_propagate(c, tau);
                if (was_free && c.u >= c.thr) {
                    const double s = t + psg_og_exp_crossing(c, u0, ie0, ii0, tau);
                    *spike_theta = s;
                    psg_og_fire(c, k, s);
                    fired = 1;
                }
            }
            t = te;
            if (is_end) {
                c.refractory = 0;
                pending_end = false;
            } else {
                if (rec[j] == 0) c.ie += w[j]; else c.ii += w[j];
                ++j;
            }
            continue;
        }
        // kind 0: delta synapses
        if (is_end) {
            if (c.refractory) t = te;
            c.refractory = 0;
            pending_end = false;
            continue;
        }
        double sum = w[j];                        // inputs at one time act together
        long long next = j + 1;
        while (next < m && theta[next] == te) sum += w[next++];
        j = next;
        if (c.refractory) {
            t = te;
            continue;
        }
        if (te > t) psg_og_delta_propagate(c, te - t);
        t = te;
        if (c.u >= c.thr) {                       // crossed by the drive before this input: it is lost
            const double s = psg_og_delta_crossing(c, t);
            *spike_theta = s;
            psg_og_fire(c, k, s);
            fired = 1;
            continue;
        }
        c.u += sum;
        if (c.u >= c.thr) {
            *spike_theta = t;
            psg_og_fire(c, k, t);
            fired = 1;
        }
    }
    if (h - t > 0.0) {
        if (c.kind == 1) {
            const double u0 = c.u, ie0 = c.ie, ii0 = c.ii;
            const bool was_free = !c.refractory;
            psg_og_exp_propagate(c, h - t);
            if (was_free && c.u >= c.thr) {
                const double s = t + psg_og_exp_crossing(c, u0, ie0, ii0, h - t);
                *spike_theta = s;
                psg_og_fire(c, k, s);
                fired = 1;
            }
        } else if (!c.refractory) {
            psg_og_delta_propagate(c, h - t);
            if (c.u >= c.thr) {
                const double s = psg_og_delta_crossing(c, h);
                *spike_theta = s;
                psg_og_fire(c, k, s);
                fired = 1;
            }
        }
    }
    return fired;
}

#endif
