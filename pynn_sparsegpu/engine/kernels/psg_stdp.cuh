// STDP on the device: the pair-based rule of engine/synapse_models.py (class STDP: timing "pair" or "vogels",
// weight dependence additive, multiplicative, apmd or gutig) for one synapse at a time, in NEST's event order and
// with the reference's arithmetic. The plastic propagation kernel (psg_plasticity.cu) uses it; so can any kernel
// that needs an STDP synapse's weight, e.g. a rewiring rule that eliminates weak synapses.
//
// Usage:
//
//     psg_stdp<REAL> s = psg_stdp_unpack<REAL>(a, k0);     // PSG_STDP_SLOTS argument slots from a[k0] on
//     double w = psg_stdp_current_weight(s, syn, post, t, d);
//
//   psg_stdp_current_weight(s, syn, post, t, d)
//       The weight of synapse `syn` (flat index row * capacity + slot, whose target is neuron `post`) as of the
//       stamp t (a spike of step k is stamped k + 1), with the potentiation it is owed for the postsynaptic spikes
//       that reached it in (t_last - d, t - d] (d: its dendritic delay in steps, its whole delay unless
//       dendritic_delay_fraction < 1). The rule applies that potentiation only at the synapse's next presynaptic
//       spike; this function stores nothing. Signed like the stored weight. Twin of STDP.current_weight.
//   psg_stdp_on_pre(s, syn, post, t, d, overflow)
//       A presynaptic spike stamped t reaches the synapse: the owed potentiation (oldest postsynaptic spike
//       first), then depression with the postsynaptic trace K_minus(t - d), then Kplus <- Kplus
//       exp(-(t - t_last) dt / tau_plus) + 1 and t_last <- t. Stores weight, Kplus and t_last; returns the new
//       signed weight (what the synapse transmits). Twin of STDP.on_pre. When the window reaches the oldest
//       stamp the history keeps and the neuron has fired more often than that, *overflow is incremented
//       (atomically; overflow may be 0).
//
// The postsynaptic history (PostHistory, kept by the population kernels, psg_neuron.cuh): stamps[n, depth] newest
// first (never-fired entries hold PSG_STDP_NEVER, older than every real stamp), count[n] spikes so far. The trace
// K_minus(T) is the sum over the stamps s < T of exp(-(T - s) dt / tau_minus), added as NumPy adds the depth axis
// (pairwise: 8 accumulators for 8 <= depth <= 128), so it is bit for bit the reference's when the exponentials are.
//
// Exponentials: exp(-(m dt / tau)) for an integer number of steps m, read from a table of NumPy's values when the
// synapse's tau is the table's (psg_decay_table; the engine builds one per time constant, see
// compiled/plasticity.py), else from the C library (which may differ from NumPy's by an ulp). Past the table, a
// term whose argument exceeds 746 is exactly 0 in both.
//
// Argument slots (k0 + ...; compiled/plasticity.py's add_stdp_args(args, engine, projection) appends them), per
// synapse arrays are [n_pre * capacity] in the rows' layout:
//    0 timing (0 pair, 1 vogels)      1 weight rule (0 additive, 1 multiplicative, 2 apmd, 3 gutig)
//    2 weight (REAL*)                 3 Kplus (REAL*)                  4 t_last (long long*)
//    5 tau_plus (REAL*; vogels: tau)  6 tau_minus (REAL*; vogels: tau)
//    7 A_plus (REAL*; vogels: eta)    8 A_minus (REAL*; vogels: rho)   9 w_min (REAL*)     10 w_max (REAL*)
//   11 mu_plus (REAL*, gutig, else 0) 12 mu_minus (REAL*, gutig, else 0)
//   13 history stamps (long long*)   14 history count (long long*)    15 history depth (<= 128)
//   16 tau_plus table (double*)      17 its length                    18 its tau (double)
//   19 tau_minus table (double*)     20 its length                    21 its tau (double)
//   22 dt (double)                   23 history row width (>= depth; see psg_stdp_row)

#ifndef PYNN_SPARSEGPU_STDP_CUH
#define PYNN_SPARSEGPU_STDP_CUH

#include "psg_portable.h"

#define PSG_STDP_SLOTS 24
#define PSG_STDP_NEVER (-(1LL << 40))
#define PSG_STDP_PAIR 0
#define PSG_STDP_VOGELS 1
#define PSG_STDP_ADDITIVE 0
#define PSG_STDP_MULTIPLICATIVE 1
#define PSG_STDP_APMD 2
#define PSG_STDP_GUTIG 3

// Decay factors of one time constant tau at integer step counts m, as NumPy computed them.
struct psg_decay_table {
    const double* value;
    long long length;
    double tau;
};

PSG_FN psg_decay_table psg_decay_table_unpack(const psg_slot* a, long long k)
{
    psg_decay_table t;
    t.value = PSG_PTR(const double, a, k);
    t.length = t.value ? PSG_INT(a, k + 1) : 0;
    t.tau = PSG_REAL(a, k + 2);
    return t;
}

// dt / tau as the reference computes it: in the working precision (a Python float divided by a REAL array).
template <typename REAL>
PSG_FN double psg_stdp_rate(double dt, REAL tau)
{
    return (double)((REAL)dt / tau);
}

// exp(-(m * c)) with c = dt / tau (STDP's form), computed where the table does not have it.
template <typename REAL>
PSG_FN double psg_decay_steps_slow(double dt, REAL tau, long long m)
{
    const double x = (double)m * psg_stdp_rate<REAL>(dt, tau);
    return x > 746.0 ? 0.0 : exp(-x);
}

// exp(-(m * dt / tau)) for a synapse whose time constant is tau: from the table when it holds it.
template <typename REAL>
PSG_FN double psg_decay_steps(const psg_decay_table& table, double dt, REAL tau, long long m)
{
    if ((double)tau == table.tau && m >= 0 && m < table.length) {
        return table.value[m];
    }
    return psg_decay_steps_slow<REAL>(dt, tau, m);
}

template <typename REAL>
struct psg_stdp {
    int timing, rule;
    REAL* weight;
    REAL* kplus;
    long long* tlast;
    const REAL* tau_plus;
    const REAL* tau_minus;
    const REAL* a_plus;
    const REAL* a_minus;
    const REAL* w_min;
    const REAL* w_max;
    const REAL* mu_plus;
    const REAL* mu_minus;
    const long long* stamps;
    const long long* count;
    long long depth, width;
    psg_decay_table plus, minus;
    double dt;
};

template <typename REAL>
PSG_FN psg_stdp<REAL> psg_stdp_unpack(const psg_slot* a, long long k0)
{
    psg_stdp<REAL> s;
    s.timing = (int)PSG_INT(a, k0 + 0);
    s.rule = (int)PSG_INT(a, k0 + 1);
    s.weight = PSG_PTR(REAL, a, k0 + 2);
    s.kplus = PSG_PTR(REAL, a, k0 + 3);
    s.tlast = PSG_PTR(long long, a, k0 + 4);
    s.tau_plus = PSG_PTR(const REAL, a, k0 + 5);
    s.tau_minus = PSG_PTR(const REAL, a, k0 + 6);
    s.a_plus = PSG_PTR(const REAL, a, k0 + 7);
    s.a_minus = PSG_PTR(const REAL, a, k0 + 8);
    s.w_min = PSG_PTR(const REAL, a, k0 + 9);
    s.w_max = PSG_PTR(const REAL, a, k0 + 10);
    s.mu_plus = PSG_PTR(const REAL, a, k0 + 11);
    s.mu_minus = PSG_PTR(const REAL, a, k0 + 12);
    s.stamps = PSG_PTR(const long long, a, k0 + 13);
    s.count = PSG_PTR(const long long, a, k0 + 14);
    s.depth = PSG_INT(a, k0 + 15);
    s.plus = psg_decay_table_unpack(a, k0 + 16);
    s.minus = psg_decay_table_unpack(a, k0 + 19);
    s.dt = PSG_REAL(a, k0 + 22);
    s.width = PSG_INT(a, k0 + 23);
    return s;
}

// The history row of neuron `post` as the rule sees it at stamp t: its `depth` newest stamps <= t. A row is
// `width` stamps wide; stamps newer than t are there only when several processes propagate a block of steps
// after the steps that made its spikes (engine/parallel/exchange.py), and they are skipped (*skipped of them).
template <typename REAL>
PSG_FN const long long* psg_stdp_row(const psg_stdp<REAL>& s, long long post, long long t, long long* skipped)
{
    const long long* row = s.stamps + post * s.width;
    long long base = 0;
    while (base < s.width - s.depth && row[base] > t) {
        ++base;
    }
    *skipped = base;
    return row + base;
}

// The weight dependence, on |w| (in double precision, as the reference computes the update).
template <typename REAL>
PSG_FN double psg_stdp_potentiate(const psg_stdp<REAL>& s, long long syn, double w, double k)
{
    const double hi = (double)s.w_max[syn];
    if (s.timing == PSG_STDP_VOGELS) {
        return psg_minimum(w + (double)s.a_plus[syn] * k, hi);
    }
    const double a = (double)s.a_plus[syn] * k;
    double next;
    if (s.rule == PSG_STDP_MULTIPLICATIVE) {
        next = w + a * (hi - w);
    } else if (s.rule == PSG_STDP_GUTIG) {
        next = w + a * hi * pow(fabs((hi - w) / hi), (double)s.mu_plus[syn]);
    } else {   // additive, apmd
        next = w + a * hi;
    }
    return psg_minimum(next, hi);
}

template <typename REAL>
PSG_FN double psg_stdp_depress(const psg_stdp<REAL>& s, long long syn, double w, double k)
{
    const double lo = (double)s.w_min[syn];
    const double hi = (double)s.w_max[syn];
    if (s.timing == PSG_STDP_VOGELS) {     // alpha eta = 2 rho tau eta, in the working precision
        const REAL step = (REAL)2.0 * s.a_minus[syn] * s.tau_plus[syn] * (REAL)1e-3 * s.a_plus[syn];
        return psg_maximum(w - (double)step, lo);
    }
    const double a = (double)s.a_minus[syn] * k;
    double next;
    if (s.rule == PSG_STDP_ADDITIVE) {
        next = w - a * hi;
    } else if (s.rule == PSG_STDP_GUTIG) {
        next = w - a * hi * pow(fabs((w - lo) / hi), (double)s.mu_minus[syn]);
    } else {   // multiplicative, apmd
        next = w - a * (w - lo);
    }
    return psg_maximum(next, lo);
}

// The indices [first, last) of the history row h (newest first) holding the stamps in (lower, upper].
PSG_FN void psg_stdp_window(const long long* h, long long depth, long long lower, long long upper,
                            long long* first, long long* last)
{
    long long i = 0;
    while (i < depth && h[i] > upper) {
        ++i;
    }
    *first = i;
    while (i < depth && h[i] > lower) {
        ++i;
    }
    *last = i;
}

// |w| after the potentiation owed for the window [first, last) of h (applied oldest first).
template <typename REAL>
PSG_FN double psg_stdp_potentiated(const psg_stdp<REAL>& s, long long syn, const long long* h, long long first,
                                   long long last, long long d)
{
    const double w0 = (double)s.weight[syn];
    double w = w0 < 0 ? -w0 : w0;
    if (last == first) {
        return w;
    }
    const REAL tau = s.tau_plus[syn];
    const double kplus = (double)s.kplus[syn];
    const long long t_last = s.tlast[syn];
    for (long long i = last - 1; i >= first; --i) {
        const double k = kplus * psg_decay_steps<REAL>(s.plus, s.dt, tau, h[i] + d - t_last);
        w = psg_stdp_potentiate(s, syn, w, k);
    }
    return w;
}

// K_minus(T) from the stamps h[first ..] (every one of them < T), NumPy's pairwise sum over the depth axis: for
// depth >= 8, entry i goes to accumulator i % 8 up to the last multiple of 8, the accumulators are combined as
// ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)), and the rest are added one by one. Stamps are newest first, so
// the terms shrink with i: once one is 0, so are the rest (the never-fired entries included), and adding 0 changes
// no sum.
template <typename REAL>
PSG_FN double psg_stdp_trace(const psg_stdp<REAL>& s, long long syn, const long long* h, long long first,
                             long long T)
{
    const REAL tau = s.tau_minus[syn];
    const long long n = s.depth;
    const long long blocked = n < 8 ? 0 : n - n % 8;    // the part summed by 8 accumulators
    const long long length = (double)tau == s.minus.tau ? s.minus.length : 0;
    const double* table = s.minus.value;
    double r[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    long long i = first;
    bool done = false;
    for (; i < blocked; ++i) {
        const long long m = T - h[i];
        const double term = m < length ? table[m] : psg_decay_steps_slow<REAL>(s.dt, tau, m);
        if (term == 0.0) {
            done = true;
            break;
        }
        r[i & 7] += term;
    }
    double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    if (!done) {
        for (i = i < blocked ? blocked : i; i < n; ++i) {
            const long long m = T - h[i];
            const double term = m < length ? table[m] : psg_decay_steps_slow<REAL>(s.dt, tau, m);
            if (term == 0.0) {
                break;
            }
            sum += term;
        }
    }
    return sum;
}

template <typename REAL>
PSG_FN double psg_stdp_current_weight(const psg_stdp<REAL>& s, long long syn, long long post, long long t,
                                      long long d)
{
    long long skipped;
    const long long* h = psg_stdp_row(s, post, t, &skipped);
    long long first, last;
    psg_stdp_window(h, s.depth, s.tlast[syn] - d, t - d, &first, &last);
    const double w = psg_stdp_potentiated(s, syn, h, first, last, d);
    return s.weight[syn] < 0 ? -w : w;
}

template <typename REAL>
PSG_FN double psg_stdp_on_pre(const psg_stdp<REAL>& s, long long syn, long long post, long long t, long long d,
                              long long* overflow)
{
    long long skipped;
    const long long* h = psg_stdp_row(s, post, t, &skipped);
    const long long t_last = s.tlast[syn];
    const long long T = t - d;
    long long first, last;
    psg_stdp_window(h, s.depth, t_last - d, T, &first, &last);
    if (overflow && last == s.depth && first < last && s.count[post] - skipped > s.depth) {
        psg_atomic_add(overflow, 1LL);
    }
    double w = psg_stdp_potentiated(s, syn, h, first, last, d);
    // the trace counts the stamps strictly before T (stamps are distinct, so at most the first is T)
    const double k_minus = psg_stdp_trace(s, syn, h, first + (first < s.depth && h[first] == T ? 1 : 0), T);
    if (s.timing == PSG_STDP_VOGELS) {
        w = psg_stdp_potentiate(s, syn, w, k_minus);
        w = psg_stdp_depress(s, syn, w, 0.0);
    } else {
        w = psg_stdp_depress(s, syn, w, k_minus);
    }
    const double signed_w = s.weight[syn] < 0 ? -w : w;
    const double kplus = (double)s.kplus[syn] * psg_decay_steps<REAL>(s.plus, s.dt, s.tau_plus[syn], t - t_last)
                         + 1.0;
    s.weight[syn] = (REAL)signed_w;
    s.kplus[syn] = (REAL)kplus;
    s.tlast[syn] = t;
    return signed_w;
}

#endif  // PYNN_SPARSEGPU_STDP_CUH
