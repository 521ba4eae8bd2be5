"""Current sources (nA) injected into neurons.

Each electrode is a function of time A(t) evaluated on the host once per step (a scalar, or per target
for noise), added into the `i_stim` array of each target group. Timing follows PyNN's convention (as
pyNN.nest implements it): the step from t to t + dt integrates the membrane with I_stim = A(t), so a
change at the electrode at time t is first seen in V(t + dt).

  DC:    amplitude on [start, stop)
  Step:  amplitudes[i] from times[i] until times[i+1] (0 before times[0])
  AC:    offset + amplitude * sin(2 pi frequency (t - start)/1000 + phase pi/180), on [start, stop)
  Noise: mean + stdev * N(0, 1), a new independent draw for each target every `dt` ms, on [start, stop)
"""

from __future__ import annotations

import math

import numpy as np


class Electrode:
    kind = "base"

    def __init__(self, backend, rng: np.random.Generator):
        self.backend, self.rng = backend, rng
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
            group.i_stim[index] += part
            offset += len(index)

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
        self._value, self._next_draw = None, None

    def amplitude(self, t, dt):
        p = self.params
        if not (p["start"] - 1e-9 <= t < p["stop"] - 1e-9):
            self._next_draw = None
            return 0.0
        if self._next_draw is None or t >= self._next_draw - 1e-9:
            n = sum(len(index) for _, index in self.targets)
            self._value = p["mean"] + p["stdev"] * self.rng.standard_normal(n)
            self._next_draw = (t if self._next_draw is None else self._next_draw) + p["dt"]
        return self._value

    def reset(self):
        super().reset()
        self._value, self._next_draw = None, None


KINDS = {cls.kind: cls for cls in (DC, Step, AC, Noise)}
