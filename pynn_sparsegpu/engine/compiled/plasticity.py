"""Compiled propagation through synapses with dynamics (STDP, Tsodyks-Markram, stochastic synapses).

`propagation_kernel(engine, projection)` gives the one kernel call per step that propagates a ModelSynapseGroup
(engine/kernels/psg_plasticity.cu): it walks the rows of this step's spikes, updates each reached synapse by its
model's event rule exactly as the reference (engine/synapse_models.py) does, stores the variables back into the
rows and adds what the synapse transmits into the target's ring buffer. It raises Unsupported for what it does not
cover (the reference path then propagates that projection):

  * models other than STDP, TsodyksMarkram, SimpleStochastic, StochasticTsodyksMarkram and MultiQuantal (or
    subclasses of them, whose on_pre may differ);
  * STDP with dendritic_delay_fraction below 1 on some synapse (events wait in an axonal queue, plastic.py);
  * a postsynaptic history deeper than 128 stamps.

Exponentials of time constants come from tables of NumPy's values (one per time constant, built at each run() for
the value of the projection's first synapse, shared by the projections that use it), so synapses with that time
constant get the reference's numbers bit for bit; other synapses use the C library's exp and expm1.
"""

from __future__ import annotations

import numpy as np

from ..synapse_models import (STDP, MultiQuantal, SimpleStochastic, StochasticTsodyksMarkram,
                              TsodyksMarkram)
from .program import Args
from .runner import Kernel, Unsupported

TABLE_LENGTH = 1 << 17          # entries of a decay table at most (1 MiB)
MAX_HISTORY_DEPTH = 128         # the kernel adds the trace as NumPy's pairwise sum does up to this depth
_KERNEL = {STDP: "stdp", TsodyksMarkram: "tsodyks_markram", SimpleStochastic: "simple_stochastic",
           StochasticTsodyksMarkram: "stochastic_tsodyks_markram", MultiQuantal: "multi_quantal"}
_TIMING = {"pair": 0, "vogels": 1}
_RULE = {"additive": 0, "multiplicative": 1, "apmd": 2, "gutig": 3}
_TAU_SYN = {"excitatory": "tau_syn_E", "inhibitory": "tau_syn_I"}


def propagation_kernel(engine, projection):
    """The Kernel propagating one projection with synapse dynamics (raises Unsupported when there is none)."""
    model = projection.model
    name = _KERNEL.get(type(model))
    if name is None:
        raise Unsupported(f"{type(model).__name__} synapses have no kernel")
    if projection._queue is not None:
        raise Unsupported("dendritic_delay_fraction below 1 (an axonal delay): its events wait in a queue that "
                          "has no kernel")
    args = _common_args(engine, projection)
    finish = None
    if name == "stdp":
        history = projection.post.history
        if history.depth > MAX_HISTORY_DEPTH:
            raise Unsupported(f"a postsynaptic spike history of depth {history.depth} (the kernel takes at most "
                              f"{MAX_HISTORY_DEPTH})")
        overflow = engine.xp.zeros(1, dtype=np.int64)
        add_stdp_args(args, engine, projection)
        args.ptr(overflow)
        finish = _stdp_finish(engine, projection, overflow)
    else:
        _short_term_args(name, args, engine, projection)
        finish = _elapsed_finish(engine, projection)
    label = f"projection {projection.label!r} ({type(model).__name__} synapses)"
    return Kernel(engine.function(f"pynn_sparsegpu_plasticity_{name}_{engine.real}"), args, label, finish=finish)


# --- arguments -----------------------------------------------------------------------------------------------
def _common_args(engine, p) -> Args:
    """Slots 0 .. 16 of every plastic propagation kernel (psg_plasticity.cu)."""
    rt = engine.source_runtime(p.pre)        # with several processes, the spikes of every process
    return (Args().ptr(engine.clock).ptr(rt.counts).ptr(rt.spike_list).ptr(rt.spike_count)
            .ptr(lambda: p.rows.ind).int(lambda: p.rows.ind.dtype.itemsize).ptr(lambda: p.rows.row_length)
            .int(lambda: p.rows.capacity).ptr(lambda: p.rows.vars["weight"]).ptr(lambda: p.rows.vars["delay"])
            .ptr(lambda: p.post.ring).int(lambda: p.post.ring.shape[0]).int(lambda: p.post.ring.shape[1])
            .int(p.receptor).int(p.post.n).real(engine.net.dt)
            .ptr(lambda: p.rows.vars.peek("_gslot") if "_gslot" in p.rows.vars else None))


def _var(p, name):
    return lambda: p.rows.vars[name]


def add_stdp_args(args: Args, engine, p) -> Args:
    """Append the PSG_STDP_SLOTS slots of psg_stdp.cuh for projection p (an STDP ModelSynapseGroup)."""
    model, dt = p.model, engine.net.dt
    vogels = model.timing == "vogels"
    tau_plus, tau_minus = ("tau", "tau") if vogels else ("tau_plus", "tau_minus")
    a_plus, a_minus = ("eta", "rho") if vogels else ("A_plus", "A_minus")
    gutig = model.weight_rule == "gutig"
    args.int(_TIMING[model.timing]).int(_RULE[model.weight_rule])
    for name in ("weight", "_kplus", "_tlast", tau_plus, tau_minus, a_plus, a_minus, "w_min", "w_max"):
        args.ptr(_var(p, name))
    args.ptr(_var(p, "mu_plus") if gutig else None).ptr(_var(p, "mu_minus") if gutig else None)
    args.ptr(lambda: p.post.history.stamps).ptr(lambda: p.post.history.count).int(lambda: p.post.history.depth)
    for name in (tau_plus, tau_minus):
        _table_args(args, engine, lambda name=name: _first_value(p, name), "stdp")
    return args.real(dt).int(lambda: p.post.history.width)


def _short_term_args(name, args, engine, p) -> None:
    if name == "simple_stochastic":
        args.ptr(_var(p, "p")).int(p.stream_key)
        return
    variables = {"tsodyks_markram": ("U", "tau_rec", "tau_facil", "x", "y", "u", "_tlast"),
                 "stochastic_tsodyks_markram": ("U", "tau_rec", "tau_facil", "R", "u", "_tlast"),
                 "multi_quantal": ("U", "n", "tau_rec", "tau_facil", "a", "u", "_tlast")}[name]
    for var in variables:
        args.ptr(_var(p, var))
    if name == "tsodyks_markram":
        receptor = p.post.model.receptors[p.receptor]
        tau_name = _TAU_SYN.get(receptor)
        if tau_name is None or tau_name not in p.post.params:
            args.ptr(None)
            psc = lambda: None         # noqa: E731  (3 ms, a double, where the receptor has none)
        else:
            args.ptr(lambda: p.post.params[tau_name])
            psc = lambda: (float(p.post.params[tau_name][0]) if p.post.n else None)   # noqa: E731
        _table_args(args, engine, lambda: _first_value(p, "tau_rec"), "exp")
        _table_args(args, engine, lambda: _first_value(p, "tau_facil"), "exp")
        _table_args(args, engine, psc, "exp")
        return
    args.int(p.stream_key)
    _table_args(args, engine, lambda: _first_value(p, "tau_facil"), "exp")
    _table_args(args, engine, lambda: _first_value(p, "tau_rec"), "expm1")


# --- decay tables --------------------------------------------------------------------------------------------
def _first_value(p, name):
    """The value of variable `name` of the projection's first synapse (None without synapses; read when the
    kernel's arguments are refreshed, not per step)."""
    rows = p.rows
    filled = np.flatnonzero(rows.backend.to_host(rows.row_length))
    if filled.shape[0] == 0:
        return None
    return float(rows.vars[name][filled[0], 0])


def _table_args(args: Args, engine, tau_of, form) -> None:
    """Three slots: a table's address, its length and its tau (re-read at every refresh)."""
    cell = {}

    def table():
        cell["t"] = decay_table(engine, tau_of(), form)
        return cell["t"][0]
    args.ptr(table).int(lambda: cell["t"][1]).real(lambda: cell["t"][2])


def decay_table(engine, tau, form):
    """(values, length, tau) for the synapses with time constant tau: NumPy's exp(-(m * (dt / tau))) ("stdp",
    dt / tau in the working precision as the reference divides), exp(-(m dt) / tau) ("exp") or expm1(-(m dt) / tau)
    ("expm1") at m = 0, 1, ... up to where exp is exactly 0 or TABLE_LENGTH. (None, 0, nan) for no tau."""
    if tau is None or not np.isfinite(tau) or tau <= 0:
        return None, 0, float("nan")
    real = np.dtype(engine.backend.dtype)
    dt = engine.net.dt
    cache = engine.__dict__.setdefault("_decay_tables", {})
    key = (form, dt, float(tau), real.name)
    found = cache.get(key)
    if found is not None:
        return found
    tau_real = np.asarray(tau, dtype=real)
    m = np.arange(TABLE_LENGTH, dtype=np.int64)
    if form == "stdp":
        rate = np.asarray(dt, dtype=real) / tau_real           # dt / tau as the reference's REAL arrays give it
        values = np.exp(-m * rate)
    else:
        h = m * dt
        values = np.exp(-h / tau_real) if form == "exp" else np.expm1(-h / tau_real)
    values = np.ascontiguousarray(values, dtype=np.float64)
    if form != "expm1":
        zero = np.flatnonzero(values == 0.0)
        if zero.shape[0]:                                       # past the first 0 the kernel returns 0 itself
            values = values[:zero[0]].copy()
    found = cache[key] = (engine.xp.asarray(values), int(values.shape[0]), float(tau_real))
    return found


# --- after a run ---------------------------------------------------------------------------------------------
def _elapsed_finish(engine, p):
    def finish():
        p._elapsed = int(engine.net.step_index)     # reset() shifts t_last by the time run so far
    return finish


def _stdp_finish(engine, p, overflow):
    elapsed = _elapsed_finish(engine, p)

    def finish():
        elapsed()
        lost = int(engine.driver.host(overflow)[0])      # once per run (a copy on the GPU)
        if lost:
            p.post.history.overflow += lost
            overflow[...] = 0
    return finish
