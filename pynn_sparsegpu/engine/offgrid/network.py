"""`OffGridNetwork`: the Python API of the off-grid time-driven engine (model and conventions: __init__.py).

Index space and API are those of the event-driven engine's EventDrivenNetwork (eventdriven/network.py), with a
time step and IF_curr_exp cells added:

    net = OffGridNetwork(n_cells, dt, kind=..., cm=..., tau_m=..., v_rest=..., v_reset=..., v_thresh=...,
                         tau_refrac=..., i_offset=..., tau_syn_E=..., tau_syn_I=..., v=..., isyn_exc=...,
                         isyn_inh=..., source_spike_times=[array, ...], pre=..., post=..., weight=...,
                         delay=..., receptor=..., engine="compiled")
    net.record_v(indices, interval_ms); net.run(until_ms) (a whole number of steps); net.spikes();
    net.v_samples(); net.get_v(); net.set_v(); net.set_parameters(); net.set_weights(); ...

engine: "compiled" (the C++ loop, kernels/psg_offgrid.cpp), "reference" (Python, the test oracle) or
"kernels" (the kernels of kernels/psg_offgrid.cu on `driver`: the clock-driven engine's LaunchDriver on the GPU;
by default its CpuDriver, the CPU build of the same kernels).
kind: 0 for IF_curr_delta cells, 1 for IF_curr_exp cells (scalar or per cell). receptor: 0 excitatory, 1
inhibitory (IF_curr_exp; ignored by IF_curr_delta). Delays are whole steps >= 1 (given in ms, multiples of
dt); tau_refrac is rounded up to whole steps and must be at least one step. Units as PyNN's (weights mV for
IF_curr_delta, nA for IF_curr_exp). Invalid input raises ValueError naming the parameter, the value and what
is allowed.
"""

from __future__ import annotations

import math

import numpy as np

from ..eventdriven.network import EventDrivenNetwork, _cell_param, _check_parameters, _finite, _index_array, _where
from ..neurons.base import psc_exp_to_v
from ..timegrid import refractory_steps

DEFAULTS = {"cm": 1.0, "tau_m": 20.0, "v_rest": -65.0, "v_reset": -65.0, "v_thresh": -50.0, "tau_refrac": 0.1,
            "i_offset": 0.0, "tau_syn_E": 5.0, "tau_syn_I": 5.0, "v": -65.0, "isyn_exc": 0.0, "isyn_inh": 0.0}
PARAMETERS = ("cm", "tau_m", "v_rest", "v_reset", "v_thresh", "tau_refrac", "i_offset", "tau_syn_E", "tau_syn_I")
ENGINES = ("compiled", "reference", "kernels")
# one 160-byte record per cell: struct psg_og_cell of kernels/psg_offgrid.cuh
CELL_DTYPE = np.dtype([(name, "<f8") for name in (
    "u", "ie", "ii", "free_theta", "tau_m", "cm", "i_e", "thr", "reset", "v_rest", "tau_se", "tau_si",
    "e_m", "p20", "p21e", "p21i", "e_se", "e_si")] + [("free_step", "<i8"), ("ref_steps", "<i4"),
                                                    ("kind", "i1"), ("refractory", "i1"), ("pad", "<i2")])
assert CELL_DTYPE.itemsize == 160


def _check(p, dt):
    """Check the cells' parameters; return their refractory periods in whole steps (at least one)."""
    _check_parameters(p, ("cm", "tau_m", "tau_syn_E", "tau_syn_I"))
    steps = refractory_steps(p["tau_refrac"], dt)
    bad = steps < 1
    if bad.any():
        raise ValueError(f"tau_refrac must be at least the time step {dt!r} ms with precise spike times (NEST's "
                         f"precise models need t_ref >= dt; got {_where(p['tau_refrac'], bad)})")
    return steps


class OffGridNetwork(EventDrivenNetwork):
    """Precise LIF cells (IF_curr_delta, IF_curr_exp) and spike sources, stepped with dt, spikes off the grid."""

    def __init__(self, n_cells: int, dt: float, *, kind=0, v=DEFAULTS["v"], isyn_exc=0.0, isyn_inh=0.0,
                 source_spike_times=(), pre=(), post=(), weight=(), delay=(), receptor=0,
                 engine: str = "compiled", driver=None, **params):
        if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or n_cells < 0:
            raise ValueError(f"n_cells must be an integer >= 0 (got {n_cells!r})")
        if n_cells >= 2**31 - 1:
            raise ValueError(f"n_cells must be < 2**31 - 1 (got {n_cells})")
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a finite number > 0 ms (got {dt!r})")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES} (got {engine!r})")
        unknown = sorted(set(params) - set(PARAMETERS))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r} (allowed: {', '.join(PARAMETERS)})")
        n = self.n_cells = int(n_cells)
        self.dt = float(dt)
        self.engine = engine
        kinds = np.asarray(kind)
        kinds = np.full(n, int(kinds)) if kinds.ndim == 0 else kinds
        if kinds.shape != (n,) or not np.isin(kinds, (0, 1)).all():
            raise ValueError(f"kind must be 0 (IF_curr_delta) or 1 (IF_curr_exp), a scalar or one per cell "
                             f"(got {kind!r})")
        self.params = {name: _cell_param(name, params.get(name, DEFAULTS[name]), n) for name in PARAMETERS}
        self.cells = np.zeros(n, dtype=CELL_DTYPE)
        self.cells["kind"] = kinds
        self._derive(self.params)
        self.cells["u"] = _cell_param("v", v, n) - self.params["v_rest"]
        self.cells["ie"] = _cell_param("isyn_exc", isyn_exc, n)
        self.cells["ii"] = _cell_param("isyn_inh", isyn_inh, n)
        self.cells["free_step"] = -1

        self._set_sources(source_spike_times)
        pre = _index_array("pre", pre, 0, self.size)
        post = _index_array("post", post, 0, n)
        weight = np.asarray(weight, dtype=np.float64)
        delay = np.asarray(delay, dtype=np.float64)
        receptor = np.broadcast_to(np.asarray(receptor), pre.shape) if np.ndim(receptor) == 0 \
            else np.asarray(receptor)
        for name, arr in (("post", post), ("weight", weight), ("delay", delay), ("receptor", receptor)):
            if arr.shape != pre.shape:
                raise ValueError(f"{name} must have the shape of pre, {pre.shape} (got {arr.shape})")
        _finite("weight", weight)
        _finite("delay", delay)
        if not np.isin(receptor, (0, 1)).all():
            raise ValueError(f"receptor must be 0 (excitatory) or 1 (inhibitory) (got "
                             f"{_where(receptor, ~np.isin(receptor, (0, 1)))})")
        steps = np.rint(delay / self.dt)
        bad = (steps < 1) | (np.abs(steps * self.dt - delay) > 1e-9 * np.maximum(delay, 1.0))
        if bad.any():
            raise ValueError(f"delay must be a whole number >= 1 of time steps of {self.dt!r} ms (got "
                             f"{_where(delay, bad)})")
        order = np.argsort(pre, kind="stable")            # rows by source, creation order kept within a row
        self.syn_post = np.ascontiguousarray(post[order].astype(np.int32))
        self.syn_w = np.ascontiguousarray(weight[order])
        self.syn_delay = np.ascontiguousarray(steps[order].astype(np.int32))
        self.syn_rec = np.ascontiguousarray(receptor[order].astype(np.int8))
        self.row_ptr = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(pre, minlength=self.size), out=self.row_ptr[1:])
        self.n_synapses = int(pre.size)
        self.syn_order = order
        self.n_slots = int(self.syn_delay.max()) + 1 if self.syn_delay.size else 1

        self.t = 0.0
        self.step = 0
        self.counters = np.zeros(4, dtype=np.int64)     # [0] source cursor, [2] next sample index
        self._src_grid = None
        self.syn_version = 0
        self.threads = 1                  # CPU threads of the compiled loop's cell updates (results do not change)
        if engine == "compiled":
            from .compiled import EngineHandle
            self._engine = EngineHandle()
        elif engine == "kernels":
            from .device import KernelEngine
            if driver is None:
                from ..compiled.program import Counters, CpuDriver, cpu_libraries
                driver = CpuDriver(cpu_libraries(), Counters())
            self._engine = KernelEngine(driver)
        else:
            from .reference import ReferenceRing
            self._engine = ReferenceRing()
        self._reset_results()

    # --- set-up ------------------------------------------------------------------------------------------
    def _derive(self, p):
        """Write the parameters (relative to v_rest) and whole-step propagators into the cells' records."""
        h = self.dt
        rec = self.cells
        ref = _check(p, h)
        rec["tau_m"], rec["cm"], rec["i_e"] = p["tau_m"], p["cm"], p["i_offset"]
        rec["thr"] = p["v_thresh"] - p["v_rest"]
        rec["reset"] = p["v_reset"] - p["v_rest"]
        rec["v_rest"] = p["v_rest"]
        rec["tau_se"], rec["tau_si"] = p["tau_syn_E"], p["tau_syn_I"]
        rec["e_m"] = np.expm1(-h / p["tau_m"])
        rec["p20"] = -p["tau_m"] / p["cm"] * rec["e_m"]
        rec["p21e"] = psc_exp_to_v(p["tau_syn_E"], p["tau_m"], p["cm"], h, np)
        rec["p21i"] = psc_exp_to_v(p["tau_syn_I"], p["tau_m"], p["cm"], h, np)
        rec["e_se"] = np.exp(-h / p["tau_syn_E"])
        rec["e_si"] = np.exp(-h / p["tau_syn_I"])
        rec["ref_steps"] = ref

    def _grid_of_sources(self):
        """(step, theta) of every source spike: the step k with k dt < t <= (k + 1) dt."""
        if self._src_grid is not None and self._src_grid[0] is self.src_time:
            return self._src_grid[1], self._src_grid[2]
        t, h = self.src_time, self.dt
        q = t / h
        n = np.rint(q)
        on_grid = np.abs(q - n) <= 1e-9 * np.maximum(np.abs(q), 1.0)
        step = np.where(on_grid, n - 1, np.floor(q)).astype(np.int64)
        theta = np.clip(np.where(on_grid, h, t - step * h), 0.0, h)
        step = np.maximum(step, 0)            # a spike at t = 0 acts at the very start
        self._src_grid = (t, np.ascontiguousarray(step), np.ascontiguousarray(theta))
        return self._src_grid[1], self._src_grid[2]

    # --- recording ---------------------------------------------------------------------------------------
    def record_v(self, indices, interval_ms: float) -> None:
        steps = float(interval_ms) / self.dt if isinstance(interval_ms, (int, float)) else float("nan")
        if not (math.isfinite(steps) and steps >= 1 - 1e-9 and abs(steps - round(steps)) <= 1e-9 * steps):
            raise ValueError(f"interval_ms must be a whole number >= 1 of time steps of {self.dt!r} ms "
                             f"(got {interval_ms!r})")
        super().record_v(indices, interval_ms)

    # --- state -------------------------------------------------------------------------------------------
    def get_v(self, indices=None):
        """V of the cells at the current time (v_reset while refractory)."""
        idx = self._cells(indices)
        return self.cells["u"][idx] + self.cells["v_rest"][idx]

    def set_v(self, values, indices=None) -> None:
        """Set V of cells at the current time; ends their refractoriness. A value at or above v_thresh fires
        at the current time when the next run starts."""
        self.set_state("v", values, indices)

    def set_state(self, name, values, indices=None) -> None:
        """Set v (ends refractoriness), isyn_exc or isyn_inh of cells at the current time."""
        if name not in ("v", "isyn_exc", "isyn_inh"):
            raise ValueError(f"unknown state variable {name!r} (allowed: v, isyn_exc, isyn_inh)")
        idx, vals = self._cell_values(values, indices)
        if name == "v":
            self.cells["u"][idx] = vals - self.cells["v_rest"][idx]
            self.cells["refractory"][idx] = 0
        else:
            self.cells["ie" if name == "isyn_exc" else "ii"][idx] = vals

    def set_parameters(self, indices=None, **params) -> None:
        """Change parameters of cells (all, or `indices`) from the current time on; V keeps its value."""
        _, new = self._changed_parameters(indices, params, PARAMETERS)
        _check(new, self.dt)
        v = self.get_v()
        self.params = new
        self._derive(new)
        self.cells["u"] = v - new["v_rest"]

    def set_weights(self, weight) -> None:
        """New weights for every synapse, in the order the synapses were given; they act on spikes sent from
        now on (inputs already on their way keep theirs, as in NEST)."""
        weight = np.asarray(weight, dtype=np.float64)
        if weight.shape != (self.n_synapses,):
            raise ValueError(f"weight must have shape ({self.n_synapses},) (got {weight.shape})")
        _finite("weight", weight)
        self.syn_w[:] = weight[self.syn_order]
        self.syn_version += 1

    # --- running -----------------------------------------------------------------------------------------
    def run(self, until_ms: float, stim=None) -> None:
        """Steps from the current time to until_ms (a whole number of steps later); repeated calls continue
        exactly. stim: (cells, base, values) for currents that change every step: in the j-th step of the run
        cell cells[r] has the drive base[r] + values[j, r] (nA) in place of its i_offset."""
        try:
            until = float(until_ms)
        except (TypeError, ValueError) as err:
            raise ValueError(f"until_ms must be a number (got {until_ms!r})") from err
        k1 = round(until / self.dt) if math.isfinite(until) else -1
        if k1 < self.step or abs(k1 * self.dt - until) > 1e-9 * max(abs(until), 1.0):
            raise ValueError(f"until_ms must be a whole number of time steps of {self.dt!r} ms, at or after the "
                             f"current time {self.t!r} ms (got {until_ms!r})")
        interval = round(self.interval / self.dt) if self.interval else 1
        if self.interval is not None:
            last_sample = k1 // interval
            n_new = max(0, last_sample - int(self.counters[2]) + 1)
        else:
            last_sample, n_new = -1, 0
        samples = np.zeros((n_new, self.rec_idx.size))
        src_step, src_theta = self._grid_of_sources()
        if stim is not None:
            idx = _index_array("stim cells", np.asarray(stim[0]).reshape(-1), 0, self.n_cells)
            base = np.broadcast_to(np.asarray(stim[1], dtype=np.float64), idx.shape)
            values = np.asarray(stim[2], dtype=np.float64)
            if values.shape != (k1 - self.step, idx.size):
                raise ValueError(f"stim values must have shape ({k1 - self.step}, {idx.size}) (got {values.shape})")
            _finite("stim values", values)
            if self.engine == "kernels":
                raise ValueError("currents that change every step are not available on the kernels path")
            stim = (idx, base, values)
        ids, times = self._engine.run(self, src_step, src_theta, interval, last_sample, samples, self.step, k1, stim)
        order = np.lexsort((ids, times))
        self._spike_chunks.append((ids[order], times[order]))
        if n_new:
            self._sample_chunks.append(samples)
        self.step = k1
        self.t = k1 * self.dt
        self._runs += 1

    def take_inputs(self):
        """Every input on its way as (steps, targets, receptors, weights), the step each is due in; they are
        removed from the network (it hands them to another engine)."""
        return self._engine.take_inputs(self.step)

    # --- checkpoints (export_state / import_state / check_state: EventDrivenNetwork's) -------------------
    QUEUE = {"inputs/step": np.int64, "inputs/target": np.int32, "inputs/rec": np.int32,
             "inputs/weight": np.float64, "inputs/theta": np.float64}
    RECORD, PARAMETERS = CELL_DTYPE, PARAMETERS          # (for check_state)

    def export_state(self) -> dict:
        out = super().export_state()
        out["step"] = np.asarray(self.step, dtype=np.int64)
        return out

    def import_state(self, arrays) -> None:
        self.step = int(arrays["step"])
        self._src_grid = None
        self.syn_version += 1             # (the kernels path copies the weights again)
        super().import_state(arrays)

    def _export_queue(self) -> dict:
        return dict(zip(self.QUEUE, self._engine.inputs(self.step)))

    def _import_queue(self, arrays) -> None:
        self._engine.put_inputs(self, self.step, *(arrays[name] for name in self.QUEUE))

    @classmethod
    def _check_queue(cls, arrays, n_cells, n_slots) -> list[str]:
        """(n_slots in place of the event-driven engine's segment count: the ring's length.)"""
        if "step" not in arrays or np.shape(arrays["step"]) != ():
            return ["'step' is missing"]
        step, target, rec = (arrays[name] for name in ("inputs/step", "inputs/target", "inputs/rec"))
        if len({arrays[name].shape for name in cls.QUEUE}) != 1:
            return ["the inputs' arrays differ in length"]
        k = int(arrays["step"])
        if step.size and (step.min() < k or step.max() >= k + n_slots or target.min() < 0
                          or target.max() >= n_cells or not np.isin(rec, (0, 1)).all()):
            return [f"an input on its way is not due in steps {k} .. {k + n_slots - 1}, or not to a cell"]
        return []

    @property
    def pending_arrivals(self) -> int:
        """Inputs on their way (sent, not yet due)."""
        return self._engine.pending
