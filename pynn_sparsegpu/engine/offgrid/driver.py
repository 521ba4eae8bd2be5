"""The off-grid time-driven engine behind a Network: the same populations, projections and record buffers,
stepped with dt while every spike keeps its exact time (OffGridNetwork).

A network qualifies when every population is IF_curr_exp or IF_curr_delta (with tau_refrac of at least one
step), SpikeSourceArray or SpikeSourcePoisson, every projection has static synapses that nothing rewires, the
current sources are DC or step sources, and only v is recorded (at one sampling interval); the event-driven
engine's driver (eventdriven/driver.py, `unsupported_parts(net, "offgrid")`) checks it, and this engine shares
that driver's handling of parameters, initial values, weights, spike times and Poisson rates changed between
runs, of current sources (their changes fall on step boundaries), and of recordings. SpikeSourcePoisson fires
in continuous time, as NEST's poisson_generator_ps.
"""

from __future__ import annotations

from ..eventdriven.driver import CELL_PARAMETERS, EventEngine
from ..neurons.lif import IFCurrDelta, IFCurrExp


class OffGridEngine(EventEngine):
    """Runs a Network with precise spike times on the time grid (see the module docstring)."""

    kind = "offgrid"
    cell_models = (IFCurrDelta, IFCurrExp)
    cell_parameters = CELL_PARAMETERS + ("tau_syn_E", "tau_syn_I")
    carried_state = ("isyn_exc", "isyn_inh")

    def __init__(self, net, compiled: bool = True):
        self._compiled = compiled
        self.name = ("time-driven with precise spike times (off-grid, as NEST's _ps models; "
                     + ("compiled, one CPU thread)" if compiled else "reference path)"))
        super().__init__(net)

    def _make_network(self, v, source_times, pre, post, weight, delay, receptor, params):
        import numpy as np
        from .network import OffGridNetwork
        kind = np.concatenate([np.full(g.n, 1 if type(g.model) is IFCurrExp else 0) for g in self.cells])
        return OffGridNetwork(self.n_cells, self.net.dt, kind=kind, v=v, isyn_exc=self._cell_state("isyn_exc"),
                              isyn_inh=self._cell_state("isyn_inh"), source_spike_times=source_times, pre=pre,
                              post=post, weight=weight, delay=delay, receptor=receptor,
                              engine="compiled" if self._compiled else "reference", **params)
