// Random variates from the counter-based streams of psg_random.h; the NumPy twin is engine/variates.py and the
// two do the same IEEE operations in the same order, so they draw the same numbers bit for bit.
//
//   * psg_det_log / psg_det_exp: the logarithm and exponential from +, -, *, / and frexp/ldexp (fdlibm's
//     algorithms, within an ulp), not the C library's, which differ from NumPy's in the last bit for some
//     arguments. sqrt is correctly rounded everywhere and is used as it is.
//   * A variate that needs a variable number of uniforms draws them from successive counters (index, *draw,
//     step), (index, *draw + 1, step), ... and leaves *draw at the next unused draw number.
//
//   psg_uniform(key, i, &draw, step)            one uniform on [0, 1) (the first of a call's pair)
//   psg_exponential(key, i, &draw, step)        Exp(1): -log(1 - u)
//   psg_normal(key, i, &draw, step)             N(0, 1): Marsaglia's polar method
//   psg_gamma(key, i, &draw, step, shape)       Gamma(shape, 1): Marsaglia and Tsang; shape < 1 boosted

#ifndef PYNN_SPARSEGPU_VARIATES_H
#define PYNN_SPARSEGPU_VARIATES_H

#include "psg_random.h"

PSG_FN double psg_det_log(double x)
{
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double lg1 = 6.666666666666735130e-01, lg2 = 3.999999999940941908e-01, lg3 = 2.857142874366239149e-01,
                 lg4 = 2.222219843214978396e-01, lg5 = 1.818357216161805012e-01, lg6 = 1.531383769920937332e-01,
                 lg7 = 1.479819860511658591e-01;
    int e;
    double m = frexp(x, &e);
    if (m < 0.70710678118654752440) {
        m = m + m;
        e -= 1;
    }
    const double k = (double)e;
    const double f = m - 1.0;
    const double s = f / (2.0 + f);
    const double z = s * s;
    const double w = z * z;
    const double t1 = w * (lg2 + w * (lg4 + w * lg6));
    const double t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)));
    const double r = t2 + t1;
    const double hfsq = 0.5 * f * f;
    return k * ln2_hi - ((hfsq - (s * (hfsq + r) + k * ln2_lo)) - f);
}

PSG_FN double psg_det_exp(double x)
{
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double inv_ln2 = 1.44269504088896338700e+00;
    const double p1 = 1.66666666666666019037e-01, p2 = -2.77777777770155933842e-03, p3 = 6.61375632143793436117e-05,
                 p4 = -1.65339022054652515390e-06, p5 = 4.13813679705723846039e-08;
    if (x > 709.782712893383973096) {
        return psg_inf();
    }
    if (x < -745.13321910194110842) {
        return 0.0;
    }
    const double k = floor(x * inv_ln2 + 0.5);
    const double hi = x - k * ln2_hi;
    const double lo = k * ln2_lo;
    const double r = hi - lo;
    const double t = r * r;
    const double c = r - t * (p1 + t * (p2 + t * (p3 + t * (p4 + t * p5))));
    const double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    return ldexp(y, (int)k);
}

PSG_FN double psg_uniform(unsigned long long key, long long index, long long* draw, long long step)
{
    double u[2];
    psg_uniform_pair(key, index, *draw, step, u);
    *draw += 1;
    return u[0];
}

PSG_FN double psg_exponential(unsigned long long key, long long index, long long* draw, long long step)
{
    return -psg_det_log(1.0 - psg_uniform(key, index, draw, step));
}

PSG_FN double psg_normal(unsigned long long key, long long index, long long* draw, long long step)
{
    for (;;) {
        double u[2];
        psg_uniform_pair(key, index, *draw, step, u);
        *draw += 1;
        const double v1 = 2.0 * u[0] - 1.0;
        const double v2 = 2.0 * u[1] - 1.0;
        const double s = v1 * v1 + v2 * v2;
        if (s < 1.0 && s > 0.0) {
            return v1 * sqrt(-2.0 * psg_det_log(s) / s);
        }
    }
}

PSG_FN double psg_gamma(unsigned long long key, long long index, long long* draw, long long step, double shape)
{
    const bool boost = shape < 1.0;
    const double a = boost ? shape + 1.0 : shape;
    const double d = a - 1.0 / 3.0;
    const double c = 1.0 / sqrt(9.0 * d);
    double out;
    for (;;) {
        const double x = psg_normal(key, index, draw, step);
        double v = 1.0 + c * x;
        if (!(v > 0.0)) {
            continue;
        }
        v = v * v * v;
        const double u = psg_uniform(key, index, draw, step);
        const double x2 = x * x;
        if (u < 1.0 - 0.0331 * x2 * x2) {
            out = d * v;
            break;
        }
        const double log_u = u > 0.0 ? psg_det_log(u) : -psg_inf();
        const double log_v = v > 0.0 ? psg_det_log(v) : -psg_inf();
        if (log_u < 0.5 * x * x + d * (1.0 - v + log_v)) {
            out = d * v;
            break;
        }
    }
    if (boost) {
        const double u = psg_uniform(key, index, draw, step);
        out = out * psg_det_exp(psg_det_log(1.0 - u) / shape);
    }
    return out;
}

#endif  // PYNN_SPARSEGPU_VARIATES_H
