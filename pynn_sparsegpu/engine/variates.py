"""Random variates from the counter-based streams of engine/random.py: the NumPy twin of kernels/psg_variates.h.

Every function here does, element by element, the IEEE operations the C header does, in the same order, so
the reference path and the compiled kernels draw the same numbers bit for bit. Two things make that possible:

  * the logarithm and the exponential are computed here from +, -, *, / and frexp/ldexp (fdlibm's algorithms,
    accurate to within an ulp), not taken from NumPy or the C library, whose results differ in the last bit
    for a few percent of arguments; square roots are correctly rounded everywhere and are used as they are;
  * a variate that needs a variable number of uniforms (rejection sampling) draws them from successive
    counters: element e uses the counters (index[e], draw[e], step), (index[e], draw[e] + 1, step), ...
    and returns the next unused draw number, so its sequence of draws depends on nothing but its own
    counters, whichever elements are drawn together.

Each Philox call gives two uniforms (random.uniform_pair); a variate uses one call per uniform it needs
(the polar method uses both of a call's uniforms). All functions take 1-D arrays of equal length (`index`,
`draw`, and the shape where there is one) and return the variates and the draw numbers after them.
With NumPy, arrays of at most SCALAR_LIMIT elements (a step of a spike source usually draws for one or two
neurons) are drawn one element at a time on Python floats, which are IEEE doubles too: the same numbers, without
the fixed cost of some hundred array operations per call.
"""

from __future__ import annotations

import math

import numpy as np

from .random import stream_key, uniform_pair

_KEY_TAG = 0x5068696C       # "Phil": the spawn-key tag of the child sequence that gives an object's Philox key


def object_key(seed_sequence: np.random.SeedSequence) -> int:
    """The Philox key of an object (a population, a current source) with its own seed sequence: the stream key
    of a child sequence tagged for counter-based draws, so it is unrelated to the words that seed the object's
    NumPy generator and to the children spawn() hands out (numbered from 0)."""
    child = np.random.SeedSequence(seed_sequence.entropy, spawn_key=(*seed_sequence.spawn_key, _KEY_TAG),
                                   pool_size=seed_sequence.pool_size)
    return stream_key(child)


# fdlibm e_log.c
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01,
       1.818357216161805012e-01, 1.531383769920937332e-01)
_LG7 = 1.479819860511658591e-01
_SQRT_HALF = 0.70710678118654752440
# fdlibm e_exp.c
_INV_LN2 = 1.44269504088896338700e+00
_P = (1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05,
      -1.65339022054652515390e-06, 4.13813679705723846039e-08)
_EXP_MAX, _EXP_MIN = 709.782712893383973096, -745.13321910194110842
_THIRD = 1.0 / 3.0
_TWO_TO_MINUS_53 = 1.0 / 9007199254740992.0


def _log_reduced(f, k):
    """log(1 + f) + k log 2 for sqrt(1/2) - 1 <= f < sqrt(2) - 1 (fdlibm's polynomial; arrays or Python floats:
    the same operations in the same order either way)."""
    lg1, lg2, lg3, lg4, lg5, lg6 = _LG
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (lg2 + w * (lg4 + w * lg6))
    t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * _LG7)))
    r = t2 + t1
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)


def _exp_reduced(x, k):
    """exp(x - k log 2), for k = floor(x / log 2 + 1/2) (fdlibm's rational approximation; arrays or floats)."""
    p1, p2, p3, p4, p5 = _P
    hi = x - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (p1 + t * (p2 + t * (p3 + t * (p4 + t * p5))))
    return 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)


def log(x, xp=np):
    """Natural logarithm of positive finite x (fdlibm's method; within an ulp of the exact value)."""
    m, e = xp.frexp(x)                       # x = m 2^e, 0.5 <= m < 1 (exact)
    low = m < _SQRT_HALF
    m = xp.where(low, m + m, m)              # sqrt(1/2) <= m < sqrt(2)
    k = (e - low.astype(e.dtype)).astype(xp.float64)
    return _log_reduced(m - 1.0, k)          # m - 1 is exact


def exp(x, xp=np):
    """exp(x) for finite x (fdlibm's method; within an ulp of the exact value)."""
    x = xp.asarray(x, dtype=xp.float64)
    k = xp.floor(x * _INV_LN2 + 0.5)
    k = xp.where(x > _EXP_MAX, 0.0, xp.where(x < _EXP_MIN, 0.0, k))
    y = xp.ldexp(_exp_reduced(x, k), k.astype(xp.int32))
    return xp.where(x > _EXP_MAX, xp.inf, xp.where(x < _EXP_MIN, 0.0, y))


# --- one element at a time: the same operations on Python floats (IEEE doubles), used for the few elements a
# step usually draws for, where array operations cost more than they compute -------------------------------
SCALAR_LIMIT = 16          # arrays of at most this many elements (NumPy only) take the scalar path
_M32 = 0xFFFFFFFF


def _pair1(key, index, draw, step):
    c0, c1, c2, c3 = index & _M32, draw & _M32, step & _M32, (step >> 32) & _M32
    k0, k1 = key & _M32, (key >> 32) & _M32
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & _M32, (p0 >> 32) ^ c3 ^ k1, p0 & _M32
        k0, k1 = (k0 + 0x9E3779B9) & _M32, (k1 + 0xBB67AE85) & _M32
    return (((c0 << 32) | c1) >> 11) * _TWO_TO_MINUS_53, (((c2 << 32) | c3) >> 11) * _TWO_TO_MINUS_53


def _log1(x):
    m, e = math.frexp(x)
    if m < _SQRT_HALF:
        m = m + m
        e -= 1
    return _log_reduced(m - 1.0, float(e))


def _exp1(x):
    if x > _EXP_MAX:
        return math.inf
    if x < _EXP_MIN:
        return 0.0
    k = math.floor(x * _INV_LN2 + 0.5)
    return math.ldexp(_exp_reduced(x, k), k)


def _normal1(key, i, d, step):
    while True:
        u0, u1 = _pair1(key, i, d, step)
        d += 1
        v1 = 2.0 * u0 - 1.0
        v2 = 2.0 * u1 - 1.0
        s = v1 * v1 + v2 * v2
        if s < 1.0 and s > 0.0:
            return v1 * math.sqrt(-2.0 * _log1(s) / s), d


def _gamma1(key, i, d, step, shape):
    boost = shape < 1.0
    a = shape + 1.0 if boost else shape
    dd = a - _THIRD
    c = 1.0 / math.sqrt(9.0 * dd)
    while True:
        x, d = _normal1(key, i, d, step)
        v = 1.0 + c * x
        if not v > 0.0:
            continue
        v = v * v * v
        u = _pair1(key, i, d, step)[0]
        d += 1
        x2 = x * x
        if u < 1.0 - 0.0331 * x2 * x2:
            break
        log_u = _log1(u) if u > 0.0 else -math.inf
        log_v = _log1(v) if v > 0.0 else -math.inf
        if log_u < 0.5 * x * x + dd * (1.0 - v + log_v):
            break
    out = dd * v
    if boost:
        u = _pair1(key, i, d, step)[0]
        d += 1
        out = out * _exp1(_log1(1.0 - u) / shape)
    return out, d


def _scalar(xp, index) -> bool:
    return xp is np and index.shape[0] <= SCALAR_LIMIT


def _each(fn, key, index, draw, step, *per_element):
    """fn(key, i, d, step, *x) -> (value, next d) for each element: arrays of the values and draw numbers."""
    step = int(step)
    pairs = [fn(key, int(i), int(d), step, *(float(v) for v in x))
             for i, d, *x in zip(index.tolist(), draw.tolist(), *(np.asarray(p).tolist() for p in per_element))]
    values = np.array([v for v, _ in pairs], dtype=np.float64)
    return values, np.array([d for _, d in pairs], dtype=np.int64)


def _uniform1(key, i, d, step):
    return _pair1(key, i, d, step)[0], d + 1


def _exponential1(key, i, d, step):
    u, d = _uniform1(key, i, d, step)
    return -_log1(1.0 - u), d


# --- arrays -------------------------------------------------------------------------------------------------
def pair(key, index, draw, step, xp=np):
    """Both uniforms of one call per element, and the next draw numbers: (u0, u1, draw + 1)."""
    if _scalar(xp, index):
        pairs = [_pair1(key, i, d, int(step)) for i, d in zip(index.tolist(), draw.tolist())]
        return (np.array([u for u, _ in pairs], dtype=np.float64), np.array([u for _, u in pairs], dtype=np.float64),
                draw + 1)
    u0, u1 = uniform_pair(key, index, draw, step, xp)
    return u0, u1, draw + 1


def uniform(key, index, draw, step, xp=np):
    """One uniform on [0, 1) per element (the first of a call's pair), and the next draw numbers."""
    if _scalar(xp, index):
        return _each(_uniform1, key, index, draw, step)
    u, _ = uniform_pair(key, index, draw, step, xp)
    return u, draw + 1


def exponential(key, index, draw, step, xp=np):
    """Exp(1) variates: -log(1 - u), one call each."""
    if _scalar(xp, index):
        return _each(_exponential1, key, index, draw, step)
    u, draw = uniform(key, index, draw, step, xp)
    return -log(1.0 - u, xp), draw


def normal(key, index, draw, step, xp=np):
    """N(0, 1) variates by Marsaglia's polar method: a call gives (v1, v2) uniform on [-1, 1)^2, accepted
    when 0 < s = v1^2 + v2^2 < 1 (probability pi/4); then z = v1 sqrt(-2 log(s) / s)."""
    if _scalar(xp, index):
        return _each(_normal1, key, index, draw, step)
    n = index.shape[0]
    z = xp.zeros(n, dtype=xp.float64)
    draw = xp.array(draw, dtype=xp.int64, copy=True)
    pending = xp.arange(n)
    while pending.shape[0]:
        u0, u1 = uniform_pair(key, index[pending], draw[pending], step, xp)
        draw[pending] += 1
        v1 = 2.0 * u0 - 1.0
        v2 = 2.0 * u1 - 1.0
        s = v1 * v1 + v2 * v2
        ok = (s < 1.0) & (s > 0.0)
        sk = s[ok]
        z[pending[ok]] = v1[ok] * xp.sqrt(-2.0 * log(sk, xp) / sk)
        pending = pending[~ok]
    return z, draw


def gamma(key, index, draw, step, shape, xp=np):
    """Gamma(shape, 1) variates (shape > 0) by Marsaglia and Tsang's method (2000): for a = shape >= 1,
    d = a - 1/3, c = 1/sqrt(9 d); repeat: x ~ N(0, 1), v = (1 + c x)^3 (redraw x while v <= 0), u uniform;
    accept d v if u < 1 - 0.0331 x^4 or log(u) < x^2/2 + d (1 - v + log v). For shape < 1: Gamma(shape + 1)
    times U^(1/shape), U = 1 - u from one more call."""
    if _scalar(xp, index):
        return _each(_gamma1, key, index, draw, step, shape)
    n = index.shape[0]
    shape = xp.asarray(shape, dtype=xp.float64)
    boost = shape < 1.0
    a = xp.where(boost, shape + 1.0, shape)
    d = a - _THIRD
    c = 1.0 / xp.sqrt(9.0 * d)
    out = xp.zeros(n, dtype=xp.float64)
    draw = xp.array(draw, dtype=xp.int64, copy=True)
    pending = xp.arange(n)
    while pending.shape[0]:
        x, draw[pending] = normal(key, index[pending], draw[pending], step, xp)
        v = 1.0 + c[pending] * x
        positive = v > 0.0
        tried, x, v = pending[positive], x[positive], v[positive]
        v = v * v * v
        u, draw[tried] = uniform(key, index[tried], draw[tried], step, xp)
        dt_ = d[tried]
        x2 = x * x
        accept = u < 1.0 - 0.0331 * x2 * x2
        slow = xp.flatnonzero(~accept)
        if slow.shape[0]:                  # log(0) is -inf: u = 0 accepts, v = 0 (underflow) rejects
            us, xs, vs, ds = u[slow], x[slow], v[slow], dt_[slow]
            log_u = xp.where(us > 0.0, log(xp.where(us > 0.0, us, 1.0), xp), -xp.inf)
            log_v = xp.where(vs > 0.0, log(xp.where(vs > 0.0, vs, 1.0), xp), -xp.inf)
            accept[slow] = log_u < 0.5 * xs * xs + ds * (1.0 - vs + log_v)
        out[tried[accept]] = dt_[accept] * v[accept]
        done = xp.zeros(pending.shape[0], dtype=bool)
        done[xp.flatnonzero(positive)[accept]] = True
        pending = pending[~done]
    small = xp.flatnonzero(boost)
    if small.shape[0]:
        u, draw[small] = uniform(key, index[small], draw[small], step, xp)
        out[small] = out[small] * exp(log(1.0 - u, xp) / shape[small], xp)
    return out, draw
