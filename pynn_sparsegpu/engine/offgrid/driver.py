"""The off-grid time-driven engine behind a Network: the same populations, projections and record buffers,
stepped with dt while every spike keeps its exact time (OffGridNetwork).

If the network changes after the first run in a way this engine cannot follow (a population, projection,
synapses or current source added, a recording of another variable started), it continues on the grid: the
cells' state (V, synaptic currents, refractoriness in whole steps) and the inputs on their way (each in the step
it is due in) go to the groups and their input rings, with a RuntimeWarning; spikes and samples recorded so
far stay as they are.

A network qualifies when every population is IF_curr_exp or IF_curr_delta (with tau_refrac of at least one
step), SpikeSourceArray or SpikeSourcePoisson, every projection has static synapses that nothing rewires, the
current sources are DC or step sources (or, on the CPU, AC and noise sources), and only v is recorded (at one
sampling interval); the event-driven engine's driver (eventdriven/driver.py, `unsupported_parts(net,
"offgrid")`) checks it, and this engine shares that driver's handling of parameters, initial values, weights,
spike times and Poisson rates changed between runs, of current sources (their changes fall on step
boundaries), and of recordings. ACSource and NoisyCurrentSource (on the CPU) give a current that changes every
step: their currents, A(k dt) for step k as on the grid, go to the loop step by step. SpikeSourcePoisson fires
in continuous time, as NEST's poisson_generator_ps.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..eventdriven.driver import CELL_PARAMETERS, EventEngine, unsupported_parts
from ..neurons.lif import IFCurrDelta, IFCurrExp


STIM_CHUNK = 1000          # steps of per-step currents handed to the loop at once


class OffGridEngine(EventEngine):
    """Runs a Network with precise spike times on the time grid (see the module docstring)."""

    kind = "offgrid"
    cell_models = (IFCurrDelta, IFCurrExp)
    cell_parameters = CELL_PARAMETERS + ("tau_syn_E", "tau_syn_I")
    carried_state = ("isyn_exc", "isyn_inh")

    def _stim_at(self, step):
        # with sources whose current varies from step to step (ACSource, NoisyCurrentSource) every source's
        # current goes to the loop step by step (_advance); i_offset alone is the cells' constant drive
        if self._varying:
            return np.zeros(self.n_cells)
        return super()._stim_at(step)

    def _advance(self, start_step, end_step):
        if not self._varying:
            return super()._advance(start_step, end_step)
        dt = self.net.dt
        idx, parts = self._stim_targets()
        base = self._cell_values("i_offset")[idx]
        k = start_step
        while k < end_step:
            m = min(STIM_CHUNK, end_step - k)
            values = np.zeros((m, idx.size))
            for s in range(m):
                t = (k + s) * dt
                for electrode, positions in parts:
                    amplitude = np.asarray(self.net.backend.to_host(electrode.amplitude(t, dt)), dtype=np.float64)
                    np.add.at(values[s], positions, np.broadcast_to(amplitude, positions.shape))
            self.edn.run((k + m) * dt, stim=(idx, base, values))
            k += m

    def _stim_targets(self):
        """(global indices of the stimulated cells, [(electrode, positions of its targets in them)]); noise
        sources draw one value per target, in their targets' order."""
        cells, parts = [], []
        for electrode in self.net.electrodes:
            glob = [self.offset[g.gid] + np.asarray(self.net.backend.to_host(index), dtype=np.int64).reshape(-1)
                    for g, index in electrode.targets]
            cells.append(np.concatenate(glob) if glob else np.zeros(0, np.int64))
        idx = np.unique(np.concatenate(cells)) if cells else np.zeros(0, np.int64)
        for electrode, glob in zip(self.net.electrodes, cells):
            parts.append((electrode, np.searchsorted(idx, glob)))
        return idx, parts

    def __init__(self, net, compiled: bool = True, driver=None):
        """compiled: the C++ loop (else the Python reference); on a GPU backend (or with `driver`, a driver of
        the clock-driven engine) the kernels of kernels/psg_offgrid.cu run instead."""
        if driver is None and net.backend.is_gpu:
            from ..compiled.cuda import LaunchDriver
            from ..compiled.program import Counters
            driver = LaunchDriver(net.backend, Counters())
        self._driver = driver
        self._compiled = compiled
        self._varying = any(e.kind not in ("dc", "step") for e in net.electrodes)
        where = ("kernels on the GPU" if driver is not None and getattr(driver, "target", "") == "cuda"
                 else "kernels" if driver is not None
                 else "compiled CPU loop" if compiled else "reference path")
        self.name = f"time-driven with precise spike times (off-grid, as NEST's _ps models; {where})"
        super().__init__(net)

    def _make_network(self, v, source_times, pre, post, weight, delay, receptor, params):
        from .network import OffGridNetwork
        kind = np.concatenate([np.full(g.n, 1 if type(g.model) is IFCurrExp else 0) for g in self.cells])
        network = OffGridNetwork(
            self.n_cells, self.net.dt, kind=kind, v=v, isyn_exc=self._cell_state("isyn_exc"),
            isyn_inh=self._cell_state("isyn_inh"), source_spike_times=source_times, pre=pre, post=post,
            weight=weight, delay=delay, receptor=receptor,
            engine="kernels" if self._driver is not None else "compiled" if self._compiled else "reference",
            driver=self._driver, **params)
        network.threads = max(int(getattr(self.net.backend, "threads", 1) or 1), 1)   # (the compiled loop's)
        return network

    def hand_over(self):
        """Hand the network to the grid engine when it changed in a way this engine cannot follow (see
        EventEngine.hand_over)."""
        net = self.net
        reasons = unsupported_parts(net, "offgrid")
        if self._network_shape() == self._shape and not reasons:
            return None
        self._push_changes(parameters=False)      # initialize() since the last run, first (the parameters stay
        #                                            in the groups: the grid engine reads them there)
        edn, k, xp = self.edn, net.step_index, net.backend.xp
        steps, targets, receptors, weights = edn.take_inputs()
        cells = edn.cells
        v = edn.get_v()
        refractory = np.where(cells["refractory"] != 0, np.maximum(cells["free_step"] - k, 0), 0)
        handed = []
        for group in self.cells:
            lo, n = self.offset[group.gid], group.n
            part = slice(lo, lo + n)
            state = group.state
            state["v"][...] = xp.asarray(v[part], dtype=state["v"].dtype)
            state["_r"][...] = xp.asarray(refractory[part], dtype=state["_r"].dtype)
            if "isyn_exc" in state:
                state["isyn_exc"][...] = xp.asarray(cells["ie"][part], dtype=state["isyn_exc"].dtype)
                state["isyn_inh"][...] = xp.asarray(cells["ii"][part], dtype=state["isyn_inh"].dtype)
            mine = (targets >= lo) & (targets < lo + n)
            if mine.any():
                handed.append((group, steps[mine], receptors[mine].astype(np.int64),
                               targets[mine].astype(np.int64) - lo, weights[mine]))
            group.initialized.clear()
        why = "; ".join(reasons) if reasons else ("a population, projection, synapses or current source was "
                                                  "added")
        warnings.warn(f"the network changed after it started with precise spike times ({why}): it continues on "
                      f"the time grid from t = {k * net.dt:g} ms, with spike times on multiples of dt from now on "
                      "(build the whole network before the first run to keep precise spike times)",
                      RuntimeWarning, stacklevel=2)
        return handed
