"""Current sources with PyNN's names and units (nA, ms), on the engine's electrodes."""

from __future__ import annotations

import numpy as np
from pyNN import errors
from pyNN.common import Assembly, Population, PopulationView
from pyNN.parameters import ParameterSpace, Sequence
from pyNN.standardmodels import StandardCurrentSource, build_translations, electrodes

from ..engine import electrodes as ee
from .. import simulator


def identity(*names):
    return build_translations(*[(name, name) for name in names])


class _EngineCurrentSource(StandardCurrentSource):
    engine_kind = None

    @simulator.streams_kept_on_error
    def __init__(self, **parameters):
        state = simulator.state
        state.check_alive()
        object.__setattr__(self, "_engine", state.network.make_electrode(ee.KINDS[self.engine_kind]))
        self._engine.display_name = type(self).__name__     # the name messages give the user
        super().__init__(**parameters)   # builds self.parameter_space from defaults + parameters
        self.parameter_space.shape = (1,)
        self.set_native_parameters(self.translate(self.parameter_space))   # validates; raises before joining
        state.network.add_electrode(self._engine)
        state.current_sources.append(self)

    def set_native_parameters(self, parameters):
        parameters.shape = (1,)
        parameters.evaluate(simplify=True)
        values = {}
        for name, value in parameters.items():
            values[name] = np.asarray(value.value, dtype=float) if isinstance(value, Sequence) else float(value)
        merged = dict(self._engine.params)
        merged.update(values)
        self._validate(merged)
        self._engine.params = merged

    def get_native_parameters(self):
        return ParameterSpace(dict(self._engine.params))

    def _validate(self, p):
        for name, value in p.items():
            arr = np.asarray(value, dtype=float)
            if np.any(np.isnan(arr)):
                raise errors.InvalidParameterValueError(
                    f"{type(self).__name__}: parameter {name!r} = {value} contains NaN")
            if name != "stop" and np.any(np.isinf(arr)):        # (a source may run for ever)
                raise errors.InvalidParameterValueError(
                    f"{type(self).__name__}: parameter {name!r} = {value} is not allowed; it must be finite")
        if "frequency" in p and p["frequency"] < 0:
            raise errors.InvalidParameterValueError(
                f"{type(self).__name__}: frequency = {p['frequency']} Hz is not allowed; it must be >= 0 Hz")
        for name in ("start", "stop"):
            if name in p and p[name] < 0:
                raise errors.InvalidParameterValueError(
                    f"{type(self).__name__}: parameter {name!r} = {p[name]} is not allowed; it must be >= 0 ms")

    def inject_into(self, cells):
        if isinstance(cells, (Population, PopulationView, Assembly)):
            groups = cells.populations if isinstance(cells, Assembly) else [cells]
            targets = []
            for part in groups:
                if part.celltype.injectable is False or part._engine_group.model.is_source:
                    raise TypeError("Can't inject current into a spike source.")
                targets.append((part._engine_group, part._engine_index()))
        else:
            targets = []
            for cell in cells:
                if not cell.celltype.injectable:
                    raise TypeError("Can't inject current into a spike source.")
                population = cell.parent
                targets.append((population._engine_group, [population.id_to_index(cell)]))
        for group, index in targets:
            self._engine.add_targets(group, index)

    def record(self):
        self._engine.recording = True

    def _get_data(self):
        """The current at the electrode at t = 0, dt, ..., now (the value the step starting there uses)."""
        eng = self._engine
        n = int(round(simulator.state.t / simulator.state.dt)) + 1
        return np.asarray(eng.trace_t[:n], dtype=float), np.asarray(eng.trace_i[:n], dtype=float)

    def _reset(self):
        self._engine.reset()


class DCSource(_EngineCurrentSource, electrodes.DCSource):
    __doc__ = electrodes.DCSource.__doc__
    translations = identity("amplitude", "start", "stop")
    engine_kind = "dc"


class ACSource(_EngineCurrentSource, electrodes.ACSource):
    __doc__ = electrodes.ACSource.__doc__
    translations = identity("amplitude", "start", "stop", "frequency", "offset", "phase")
    engine_kind = "ac"


class StepCurrentSource(_EngineCurrentSource, electrodes.StepCurrentSource):
    __doc__ = electrodes.StepCurrentSource.__doc__
    translations = identity("amplitudes", "times")
    engine_kind = "step"

    def set_native_parameters(self, parameters):
        """Times are rounded to the time grid; of several amplitudes mapped to one time the last wins."""
        super().set_native_parameters(parameters)
        p = self._engine.params
        times = np.asarray(p.get("times", []), dtype=float)
        amps = np.asarray(p.get("amplitudes", []), dtype=float)
        dt = simulator.state.dt
        grid = np.rint(times / dt) * dt
        keep = np.append(grid[1:] != grid[:-1], True) if grid.size else np.zeros(0, bool)
        p["times"], p["amplitudes"] = grid[keep], amps[keep]

    def _validate(self, p):
        super()._validate(p)
        times = np.asarray(p.get("times", []), dtype=float)
        amps = np.asarray(p.get("amplitudes", []), dtype=float)
        if times.shape != amps.shape:
            raise errors.InvalidParameterValueError(
                f"StepCurrentSource: times (length {times.size}) and amplitudes (length {amps.size}) "
                "must have the same length")
        if times.size and np.min(times) < 0:
            raise ValueError("Step current cannot accept negative timestamps.")
        if times.size > 1 and np.min(np.diff(times)) <= 0:
            raise ValueError("Step current timestamps should be monotonically increasing.")


class NoisyCurrentSource(_EngineCurrentSource, electrodes.NoisyCurrentSource):
    __doc__ = electrodes.NoisyCurrentSource.__doc__
    translations = identity("mean", "stdev", "start", "stop", "dt")
    engine_kind = "noise"

    def _validate(self, p):
        super()._validate(p)
        if p.get("stdev", 0.0) < 0:
            raise errors.InvalidParameterValueError(
                f"NoisyCurrentSource: stdev = {p['stdev']} is not allowed; it must be >= 0 nA")
        if "dt" in p:
            ratio = p["dt"] / simulator.state.dt
            if p["dt"] <= 0 or abs(ratio - round(ratio)) > 1e-6:
                raise errors.InvalidParameterValueError(
                    f"NoisyCurrentSource: dt = {p['dt']} ms is not allowed; it must be a positive multiple "
                    f"of the time step ({simulator.state.dt} ms)")
