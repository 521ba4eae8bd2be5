"""Current sources (nA) injected into neurons.

Each electrode is a function of time A(t) (a scalar, or per target for noise) added once per step into the
`i_stim` array of each target group: here on the host (the reference path), in one kernel for all electrodes on
the compiled path (compiled/electrodes.py; recorded electrodes stay on the host). Timing follows PyNN's
convention (as pyNN.nest implements it): the step from t to t + dt integrates the membrane with I_stim = A(t),
so a change at the electrode at time t is first seen in V(t + dt).

  DC:    amplitude on [start, stop)
  Step:  amplitudes[i] from times[i] until times[i+1] (0 before times[0])
  AC:    offset + amplitude * sin(2 pi frequency (t - start)/1000 + phase pi/180), on [start, stop)
  Noise: mean + stdev * N(0, 1), a new independent draw for each target every `dt` ms (every
         round(dt / time step) steps, counted from the first time step in [start, stop)), on [start, stop)

Noise draws from the electrode's counter-based Philox stream (engine/random.py; `key` from the network's seed)
at counter (target position, draw, period number) through engine/variates.py, so the compiled kernel
(kernels/psg_electrodes.cu) draws the same currents; the other electrodes compute A(t) with the same
operations as the kernel (AC with the C library's sin, which math.sin also calls). Both paths give the same
currents bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from .variates import normal


def first_step(start: float, dt: float) -> int:
    """The first time index s >= 0 (time s dt) inside a window that starts at `start`: s dt >= start - 1e-9."""
    s = max(0, int(math.ceil((start - 1e-9) / dt)))
    while s > 0 and (s - 1) * dt >= start - 1e-9:
        s -= 1
    while s * dt < start - 1e-9:
        s += 1
    return s


def draw_period(noise_dt: float, dt: float) -> int:
    """Steps between two draws of a noise source of interval `noise_dt` (at least one)."""
    return max(1, int(round(noise_dt / dt)))


class Electrode:
    kind = "base"

    def __init__(self, backend, rng: np.random.Generator):
        self.backend, self.rng = backend, rng
        self.key = 0                 # the electrode's Philox stream (Network.make_electrode sets it from the seed)
        self.targets = []            # (group, device index array)
        self.params = {}
        self.recording = False
        self.trace_t, self.trace_i = [], []

    def add_targets(self, group, index) -> None:
        self.targets.append((group, self.backend.xp.asarray(np.asarray(index, dtype=np.int64))))

    def amplitude(self, t: float, dt: float):
        raise NotImplementedError

    def inject(self, t: float, dt: float) -> None:
        """Add A(t) into the targets' i_stim (called once per step, after the neurons' update)."""
        value = self.amplitude(t, dt)
        if self.recording:
            self.trace_t.append(t)
            self.trace_i.append(float(np.mean(value)) if np.ndim(value) else float(value))
        if np.ndim(value) == 0 and value == 0.0:
            return
        offset = 0
        for group, index in self.targets:
            part = value if np.ndim(value) == 0 else self.backend.xp.asarray(value[offset:offset + len(index)])
            offset += len(index)
            keep, local = self._local(group, index)
            if keep is not None:               # several processes: this one's cells of the target list
                part = part if np.ndim(part) == 0 else part[keep]
                index = local
            group.i_stim[index] += part

    def _local(self, group, index):
        """(mask over `index`, local indices) of the targets this process holds; (None, None) when it holds
        the whole population."""
        if not getattr(group, "distributed", False):
            return None, None
        cache = self.__dict__.setdefault("_local_cache", {})
        key = (id(group), id(index))
        if key not in cache:
            keep, local = group.local_positions(self.backend.to_host(index))
            xp = self.backend.xp
            cache[key] = (xp.asarray(keep), xp.asarray(local))
        return cache[key]

    def reset(self) -> None:
        self.trace_t, self.trace_i = [], []


class DC(Electrode):
    kind = "dc"

    def amplitude(self, t, dt):
        p = self.params
        return p["amplitude"] if p["start"] - 1e-9 <= t < p["stop"] - 1e-9 else 0.0


class Step(Electrode):
    kind = "step"

    def amplitude(self, t, dt):
        times, amps = self.params["times"], self.params["amplitudes"]
        k = np.searchsorted(times, t + 1e-9, side="right") - 1
        return float(amps[k]) if k >= 0 else 0.0


class AC(Electrode):
    kind = "ac"

    def amplitude(self, t, dt):
        p = self.params
        if not (p["start"] - 1e-9 <= t < p["stop"] - 1e-9):
            return 0.0
        return p["offset"] + p["amplitude"] * math.sin(2 * math.pi * p["frequency"] * (t - p["start"]) / 1000.0
                                                       + p["phase"] * math.pi / 180.0)


class Noise(Electrode):
    kind = "noise"

    def __init__(self, backend, rng):
        super().__init__(backend, rng)
        self._cache = None           # ((period number, n, mean, stdev), values)

    def amplitude(self, t, dt):
        p = self.params
        if not (p["start"] - 1e-9 <= t < p["stop"] - 1e-9):
            return 0.0
        s = int(round(t / dt))
        epoch = (s - first_step(p["start"], dt)) // draw_period(p.get("dt", dt), dt)
        n = sum(len(index) for _, index in self.targets)
        tag = (epoch, n, p["mean"], p["stdev"])
        if self._cache is None or self._cache[0] != tag:
            xp = self.backend.xp
            z, _ = normal(self.key, xp.arange(n), xp.zeros(n, dtype=xp.int64), epoch, xp)
            self._cache = (tag, p["mean"] + p["stdev"] * z)
        return self._cache[1]

    def reset(self):
        super().reset()
        self._cache = None


KINDS = {cls.kind: cls for cls in (DC, Step, AC, Noise)}
