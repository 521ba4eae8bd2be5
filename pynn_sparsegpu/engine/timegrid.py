"""Times in ms as whole time steps, the way NEST converts them (its time base: whole tics of 1 µs).

    steps_of(t, dt)          t / dt after rounding t to the tic: a time on the grid is a whole number exactly
                             (12.3 ms at dt 0.1 is 123.0, not 122.99999999999999)
    delay_steps(d, dt)       the nearest whole step, halves rounded up: floor(d x steps per ms + 0.5)
                             (0.15 ms at dt 0.1 is 2 steps, 0.25 is 3, 1.25 is 13)
    refractory_steps(t, dt)  whole steps, rounded up: a refractory period lasts at least t_ref
                             (2.01 ms at dt 0.1 is 21 steps, 1.96 is 20, 2.0 is 20)

Where dt is not a whole number of tics, times are divided by dt as they are.
"""

from __future__ import annotations

import numpy as np

TICS_PER_MS = 1000.0


def _tics_per_step(dt):
    tics = dt * TICS_PER_MS
    whole = round(tics)
    return float(whole) if whole >= 1 and abs(tics - whole) <= 1e-9 * tics else None


def steps_of(times_ms, dt, xp=np):
    """Times (ms) as numbers of steps of dt (float64), rounded to the tic first."""
    times = xp.asarray(times_ms, dtype=xp.float64)
    per_step = _tics_per_step(dt)
    if per_step is None:
        return times / dt
    return xp.rint(times * TICS_PER_MS) / per_step


def delay_steps(delay_ms, dt, xp=np):
    """Delays (ms) as whole steps (float64 values), as NEST rounds them (Time::delay_ms_to_steps)."""
    delays = xp.asarray(delay_ms, dtype=xp.float64)
    per_step = _tics_per_step(dt)
    steps_per_ms = TICS_PER_MS / per_step if per_step is not None else 1.0 / dt
    return xp.floor(delays * steps_per_ms + 0.5)


def refractory_steps(tau_refrac, dt, xp=np):
    """Refractory periods (ms) as whole steps (int32), rounded up as NEST's Time::get_steps rounds them."""
    steps = steps_of(tau_refrac, dt, xp)
    return xp.ceil(steps - 1e-9).astype(xp.int32)
