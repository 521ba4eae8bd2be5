"""Projection: PyNN's common Projection over one engine SynapseGroup per (source, target) population pair.

PyNN-level indices (0..pre.size-1, 0..post.size-1, across views and assemblies) are mapped to
(engine group, index in group) once; connections are buffered by `_convergent_connect` and the ragged rows
are built at the next run in one vectorised pass.
"""

from __future__ import annotations

import numpy as np
from pyNN import common, errors
from pyNN.core import is_listlike
from pyNN.space import Space
from pyNN.standardmodels import StandardSynapseType

from . import connectors as native_connectors
from . import rewiring, simulator
from .engine.plastic import ModelSynapseGroup
from .engine.synapses import SynapseGroup, delay_steps
from .populations import Assembly
from .standardmodels.structural import StructuralPlasticityMechanism
from .standardmodels.synapses import StaticSynapse


def _parts(neurons):
    """[(engine group, engine index array)] covering a Population, PopulationView or Assembly, in order."""
    populations = neurons.populations if isinstance(neurons, Assembly) else [neurons]
    return [(p._engine_group, np.asarray(p._engine_index())) for p in populations]


MAX_DELAY_STEPS = 2 ** 31 - 2        # delays are stored as int32 steps


def _check_delay_fits(delay, dt):
    """A delay the engine can hold: as int32 steps, and with input ring buffers (one slot per step of the
    longest delay, for every cell and receptor) that fit in the memory available now."""
    steps = int(delay_steps(delay, dt))
    if steps > MAX_DELAY_STEPS:
        raise errors.ConnectionError(f"delay={delay} ms is too long: at most {MAX_DELAY_STEPS * dt:g} ms "
                                     f"({MAX_DELAY_STEPS} steps of {dt} ms)")
    network = simulator.state.network
    current = max([g.ring.shape[0] for g in network.groups] + [1])
    if steps + 1 <= current:
        return
    backend = network.backend
    slots = sum(g.n * max(len(g.model.receptors), 1) for g in network.groups)
    need = (steps + 1) * slots * np.dtype(backend.dtype).itemsize
    if need < 2 ** 30:
        return                         # (not worth asking the system)
    free = backend.available_bytes()
    if free is not None and need > free:
        raise MemoryError(f"delay={delay} ms needs input ring buffers of {need / 2**30:.3g} GiB ({steps + 1} "
                          f"slots for each of the network's {slots} cell receptors), and {free / 2**30:.3g} GiB "
                          "is available; use shorter delays")


class Connection(common.Connection):
    """One synapse (indices within the projection's pre/post); weight and delay read and write the engine."""

    def __init__(self, projection, pre, post, group, row, slot):
        self.projection = projection
        self.presynaptic_index, self.postsynaptic_index = int(pre), int(post)
        self._group, self._row, self._slot = group, int(row), int(slot)

    def _get_weight(self):
        return float(self._group.rows.vars["weight"][self._row, self._slot])

    def _set_weight(self, value):
        self.projection._check_values(np.asarray([value], float), np.asarray([simulator.state.min_delay]))
        self._group.rows.vars["weight"][self._row, self._slot] = value

    def _get_delay(self):
        return float(self._group.rows.vars["delay"][self._row, self._slot]) * simulator.state.dt

    def _set_delay(self, value):
        self.projection._check_values(np.zeros(1), np.asarray([value], float))
        self._group.rows.vars["delay"][self._row, self._slot] = int(delay_steps(value, simulator.state.dt))

    weight = property(_get_weight, _set_weight)
    delay = property(_get_delay, _set_delay)

    def as_tuple(self, *names):
        return tuple(getattr(self, name) for name in names)


class Projection(common.Projection):
    __doc__ = common.Projection.__doc__
    _simulator = simulator
    _static_synapse_class = StaticSynapse

    @simulator.streams_kept_on_error
    def __init__(self, presynaptic_population, postsynaptic_population, connector, synapse_type=None,
                 source=None, receptor_type=None, space=Space(), label=None, *, row_capacity=None,
                 spare_fraction=0.0):
        """PyNN's Projection, plus two storage options for synapses that will be created during a run
        (structural plasticity): `row_capacity`, the slots per presynaptic row (default: the longest row
        the connector makes), or `spare_fraction`, extra room as a fraction of the longest row."""
        simulator.state.check_alive()
        if row_capacity is not None and not (isinstance(row_capacity, (int, np.integer)) and row_capacity >= 1):
            raise ValueError(f"row_capacity={row_capacity!r} is not allowed; it must be an integer >= 1 or None")
        if not (isinstance(spare_fraction, (int, float)) and np.isfinite(spare_fraction) and spare_fraction >= 0):
            raise ValueError(f"spare_fraction={spare_fraction!r} is not allowed; it must be a number >= 0")
        self.row_capacity, self.spare_fraction = row_capacity, float(spare_fraction)
        receptors = getattr(postsynaptic_population, "receptor_types", None)
        if receptors is not None and len(receptors) == 0:       # (PyNN would fail with an IndexError)
            celltype = getattr(postsynaptic_population, "celltype", None)
            raise errors.ConnectionError(
                f"the postsynaptic population {postsynaptic_population.label!r} is a spike source "
                f"({type(celltype).__name__}): it has no receptor_type and takes no synaptic input; "
                "connect to a population of neurons")
        super().__init__(presynaptic_population, postsynaptic_population, connector, synapse_type,
                         source, receptor_type, space, label)
        self._pre_parts = _parts(self.pre)
        self._post_parts = _parts(self.post)
        self._pre_part_of = np.repeat(np.arange(len(self._pre_parts)), [len(ix) for _, ix in self._pre_parts])
        self._post_part_of = np.repeat(np.arange(len(self._post_parts)), [len(ix) for _, ix in self._post_parts])
        self._pre_engine = np.concatenate([ix for _, ix in self._pre_parts])
        self._post_engine = np.concatenate([ix for _, ix in self._post_parts])
        post_model = self._post_parts[0][0].model
        self._receptor = list(post_model.receptors).index(self.receptor_type) \
            if self.receptor_type in post_model.receptors else None
        if self._receptor is None:
            raise errors.ConnectionError(f"receptor_type={self.receptor_type!r} is not available on "
                                         f"{type(self.post.celltype).__name__}; allowed: {list(post_model.receptors)}")
        self._conductance = bool(self.post.conductance_based)
        # PyNN's weight schema already demands negative weights on current-based inhibitory receptors, so
        # weights go to the engine as given: signed currents, or conductance magnitudes per receptor
        network = simulator.state.network
        model = self.synapse_type.engine_model() if hasattr(self.synapse_type, "engine_model") else None
        if model is None:
            raise errors.ConnectionError(f"synapse_type {type(self.synapse_type).__name__} is not available in "
                                         "sparsegpu; use one of sim.StaticSynapse, sim.STDPMechanism, "
                                         "sim.TsodyksMarkramSynapse, sim.SimpleStochasticSynapse, ...")
        self._model = model
        self._model_parameters = list(model.parameters)
        self._groups = {}
        for i, (pre_group, _) in enumerate(self._pre_parts):
            for j, (post_group, _) in enumerate(self._post_parts):
                if type(model).__name__ == "Static":
                    group = SynapseGroup(network.backend, pre_group, post_group, self._receptor, self.label or "")
                else:
                    group = ModelSynapseGroup(network.backend, pre_group, post_group, self._receptor,
                                              self.label or "", model, network.synapse_seed())
                group.dt = simulator.state.dt
                group.capacity, group.spare = self.row_capacity, self.spare_fraction
                group.display_name = type(self.synapse_type).__name__     # the name messages give the user
                self._groups[(i, j)] = group
        self._check_synapse_type()
        if not native_connectors.connect(self, connector):
            connector.connect(self)           # PyNN's generic path (CSA, user connectors)
        self._check_capacity()
        if isinstance(self.synapse_type, StructuralPlasticityMechanism):
            rewiring.attach(self, self.synapse_type)
        network.projections.extend(self._groups.values())

    # --- structural plasticity ----------------------------------------------------------------------
    def record_rewiring(self, sampling_interval=None, events=False):
        """Record formation/elimination counts every `sampling_interval` ms (default: the rewiring interval)
        and the projection's size, and with events=True every event (time, pre, post, formed/eliminated)."""
        rewiring.record(self, sampling_interval, events)

    def get_rewiring_data(self, clear=False):
        """What record_rewiring() recorded, as a neo.Block (see pynn_sparsegpu.rewiring.get_data)."""
        return rewiring.get_data(self, clear)

    def rewiring_counts(self):
        """Totals since creation: attempts, formations, eliminations, failed (row full), rejected, no_partner,
        target_full (max_in_degree reached)."""
        return rewiring.counts(self)

    # --- building -----------------------------------------------------------------------------------
    def _convergent_connect(self, presynaptic_indices, postsynaptic_index, location_selector=None,
                            **connection_parameters):
        if location_selector is not None:
            raise NotImplementedError("sparsegpu has point neurons only: location_selector is not supported")
        pre = np.asarray(presynaptic_indices, dtype=np.int64).ravel()
        self._connect_pairs(pre, np.full(pre.size, int(postsynaptic_index), dtype=np.int64), connection_parameters)

    def _connect_pairs(self, pre, post, params):
        """Store connections given as projection-level index arrays, with per-connection (or scalar)
        synapse parameters; the vectorised connectors end here. Arrays may be host (numpy) or device
        arrays; they are stored on the backend's array module."""
        backend = simulator.state.network.backend
        xp = backend.xp
        pre, post = xp.asarray(pre, dtype=xp.int64), xp.asarray(post, dtype=xp.int64)
        n = pre.shape[0]
        if n == 0:
            return
        weight = xp.broadcast_to(xp.asarray(params.pop("weight"), dtype=xp.float64), (n,))
        delay = xp.broadcast_to(xp.asarray(params.pop("delay"), dtype=xp.float64), (n,))
        self._check_values(weight, delay, xp)
        extra = self._model_values(params, n, backend)
        pre_part_of, post_part_of, pre_engine, post_engine = self._index_maps(xp)
        if len(self._groups) == 1:
            self._groups[(0, 0)].buffer(pre_engine[pre], post_engine[post], weight, delay, extra)
            return
        key = pre_part_of[pre] * len(self._post_parts) + post_part_of[post]
        for k in backend.to_host(xp.unique(key)).tolist():
            sel = key == k
            i, j = divmod(int(k), len(self._post_parts))
            self._groups[(i, j)].buffer(pre_engine[pre[sel]], post_engine[post[sel]],
                                        weight[sel], delay[sel], {k: v[sel] for k, v in extra.items()})

    def _index_maps(self, xp):
        """(pre part, post part, pre engine index, post engine index) lookup arrays on xp."""
        maps = (self._pre_part_of, self._post_part_of, self._pre_engine, self._post_engine)
        if xp is np:
            return maps
        cached = getattr(self, "_device_maps", None)
        if cached is None:
            cached = self._device_maps = tuple(xp.asarray(m) for m in maps)
        return cached

    def _model_values(self, params, n, backend=None):
        """The synapse model's parameters as per-connection arrays (on the backend's array module),
        validated by the model on the host (a scalar is checked once, not n times)."""
        xp = np if backend is None else backend.xp
        to_host = np.asarray if backend is None else backend.to_host
        given = {name: params[name] for name in self._model_parameters if name in params}
        host = {}
        for name, value in given.items():
            scalar = getattr(value, "ndim", 0) == 0
            host[name] = np.asarray([float(value)] if scalar else to_host(value), dtype=float)
        try:
            self._model.validate(host)
        except ValueError as err:
            raise errors.ConnectionError(str(err)) from None
        return {name: xp.broadcast_to(xp.asarray(value, dtype=xp.float64), (n,)) for name, value in given.items()}

    def _check_capacity(self):
        """A row_capacity smaller than a row the connector made is refused now, not at run time."""
        if self.row_capacity is None:
            return
        for group in self._groups.values():
            longest = group.longest_pending_row()
            if longest > self.row_capacity:
                raise errors.ConnectionError(
                    f"row_capacity={self.row_capacity} is too small: the connector gave a presynaptic "
                    f"neuron {longest} synapses")

    def _check_synapse_type(self):
        """The synapse type's single values (weight, delay, model parameters given as one number) are checked
        before any connection is made, so that they are refused also where the connector makes none."""
        space = self.synapse_type.native_parameters
        try:
            space.shape = (self.pre.size, self.post.size)
        except ValueError:                # (an array of another shape: refused when the connector evaluates it)
            return
        scalars = {}
        for name, lazy in space.items():
            if not lazy.is_homogeneous:
                continue
            try:
                value = lazy.evaluate(simplify=True)
            except Exception:         # noqa: BLE001  (checked per connection instead)
                continue
            if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
                scalars[name] = float(value)
        self._check_scalars(scalars)

    def _check_scalars(self, scalars) -> None:
        """Check single values of the weight, the delay and the synapse model's parameters ({name: float})."""
        if "weight" in scalars or "delay" in scalars:
            self._check_values(np.asarray([scalars.get("weight", 0.0)]),
                               np.asarray([scalars.get("delay", simulator.state.min_delay)]))
        model = {name: value for name, value in scalars.items() if name in self._model_parameters}
        if model:
            self._model_values(model, 1)

    def _check_values(self, weight, delay, xp=np):
        if bool(xp.isnan(weight).any()) or bool(xp.isnan(delay).any()):
            raise errors.ConnectionError("weights and delays must be numbers, not NaN")
        for name, values, unit in (("weight", weight, ""), ("delay", delay, " ms")):
            if bool(xp.isinf(values).any()):
                bad = float(values[xp.isinf(values)][0]) if values.ndim else float(values)
                raise errors.ConnectionError(f"{name}={bad}{unit} is not allowed: {name}s must be finite numbers"
                                             + (" of ms" if unit else ""))
        if self._conductance and bool((weight < 0).any()):
            raise errors.ConnectionError(
                f"weight={float(weight.min())} is not allowed: conductance-based synapses need weights >= 0 uS "
                "(use receptor_type='inhibitory' for inhibition)")
        state = simulator.state
        dt = state.dt
        min_delay = dt if state._min_delay == "auto" else state.min_delay
        if delay.shape[0] == 0:
            return
        if float(delay.min()) < min_delay - 1e-9 * dt:
            raise errors.ConnectionError(f"delay={float(delay.min())} ms is smaller than min_delay={min_delay} ms")
        max_delay = simulator.state._max_delay
        if max_delay != "auto" and float(delay.max()) > float(max_delay) + 1e-9:
            raise errors.ConnectionError(f"delay={float(delay.max())} ms is larger than max_delay={max_delay} ms")
        _check_delay_fits(float(delay.max()), dt)

    # --- reading ------------------------------------------------------------------------------------
    def _columns(self, names):
        """(pre, post, {name: per-synapse values}) for weight, delay, indices and the model parameters in
        `names`, sorted by (pre, post)."""
        known = ["weight", "delay"] + self._model_parameters
        builtin = ("presynaptic_index", "postsynaptic_index", "weight", "delay", "weights", "delays")
        extra = [n for n in names if n not in builtin]
        for name in extra:
            if name not in self._model_parameters:
                raise errors.NonExistentParameterError(name, type(self.synapse_type).__name__, known)
        table = self._table(extra)
        columns = {"presynaptic_index": table["pre"], "postsynaptic_index": table["post"],
                   "weights": table["weight"], "delays": table["delay"], **table}
        return table["pre"], table["post"], columns

    def _table(self, names=(), addresses=False):
        """All synapses, sorted by (pre, post), in one pass over the engine groups: projection-level "pre",
        "post", "weight" (PyNN units), "delay" (ms), the synapse-model variables in `names`, and with
        addresses=True the engine address of each synapse ("key" = group number, "row", "slot")."""
        dt = simulator.state.dt
        fields = ["pre", "post", "weight", "delay", *names] + (["key", "row", "slot"] if addresses else [])
        parts = {name: [] for name in fields}
        for k, ((i, j), group) in enumerate(self._groups.items()):
            group.prepare(dt)
            pre_e, post_e, values = group.rows.to_coo()
            parts["pre"].append(self._inverse(self._pre_parts, i, group.pre.n_total)[pre_e])
            parts["post"].append(self._inverse(self._post_parts, j, group.post.n_total)[post_e + group.post.cell0])
            parts["weight"].append(values["weight"].astype(float))
            parts["delay"].append(values["delay"] * dt)
            for name in names:
                parts[name].append(np.asarray(values[name], float))
            if addresses:
                r, c = group.rows.synapse_slots()
                parts["key"].append(np.full(pre_e.size, k))
                parts["row"].append(group.backend.to_host(r))
                parts["slot"].append(group.backend.to_host(c))
        if not parts["pre"]:
            integer = ("pre", "post", "key", "row", "slot")
            return {name: np.zeros(0, np.int64 if name in integer else float) for name in fields}
        table = {name: np.concatenate(values) for name, values in parts.items()}
        order = np.lexsort((table["post"], table["pre"]))
        return {name: values[order] for name, values in table.items()}

    def _coo(self, addresses=False):
        """All synapses as projection-level (pre, post, weight in PyNN units, delay in ms), sorted by
        (pre, post); with addresses=True also (group key, row, slot) of each synapse in the engine."""
        table = self._table(addresses=addresses)
        fields = ("pre", "post", "weight", "delay") + (("key", "row", "slot") if addresses else ())
        return tuple(table[name] for name in fields)

    def _inverse(self, parts, k, n_engine):
        offset = sum(len(ix) for _, ix in parts[:k])
        inv = np.full(n_engine, -1, dtype=np.int64)
        inv[parts[k][1]] = offset + np.arange(len(parts[k][1]))
        return inv

    def __len__(self):
        pending = sum(sum(p[0].size for p in g._pending) for g in self._groups.values())
        stored = sum(g.rows.size() for g in self._groups.values() if g.rows is not None)
        return pending + stored

    def __getitem__(self, i):
        pre, post, _, _, key, row, slot = self._coo(addresses=True)
        groups = list(self._groups.values())
        if is_listlike(i) or isinstance(i, slice):
            idx = np.arange(len(pre))[i]
            return [Connection(self, pre[k], post[k], groups[key[k]], row[k], slot[k]) for k in idx]
        return Connection(self, pre[i], post[i], groups[key[i]], row[i], slot[i])

    @property
    def connections(self):
        return self[slice(None)]

    def set(self, **attributes):
        """PyNN's Projection.set; an array of values must be [pre.size, post.size] (one value per possible
        connection) or hold one value per synapse, in connection order, and another shape is refused with the
        attribute's name."""
        # single values are checked here, also where the projection has no synapse to check them on
        scalars = {name: float(value) for name, value in attributes.items()
                   if isinstance(value, (int, float, np.number)) and not isinstance(value, bool)}
        self._check_scalars(scalars)
        shape = (self.pre.size, self.post.size)
        arrays = {name: np.shape(value) for name, value in attributes.items()
                  if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) >= 1}
        if arrays:
            n = self.size(gather=True) if simulator.state.num_processes > 1 else len(self)   # (collective)
            for name, given in arrays.items():
                if given != shape and given != (n,):
                    raise errors.InvalidDimensionsError(
                        f"{name}: values of shape {given} given; a projection from {self.pre.size} to "
                        f"{self.post.size} cells with {n} synapses takes one value for all of them, one value per "
                        f"synapse ({n}), or an array of shape {shape}")
        super().set(**attributes)

    def get(self, attribute_names, format, gather=True, with_address=True, multiple_synapses="sum"):
        """PyNN's Projection.get; with several MPI processes a gathered list is in the order one process gives
        (by presynaptic, then postsynaptic index), not process by process."""
        state = simulator.state
        if format not in ("list", "array") or not gather or state.num_processes == 1:
            return super().get(attribute_names, format, gather, with_address, multiple_synapses)
        single = isinstance(attribute_names, str)
        names = (attribute_names,) if single else tuple(attribute_names)
        if format == "array" and multiple_synapses not in self.MULTI_SYNAPSE_OPERATIONS:
            raise ValueError(f"multiple_synapses={multiple_synapses!r} is not allowed; use one of "
                             f"{list(self.MULTI_SYNAPSE_OPERATIONS)}")
        rows = super().get(names, "list", gather=False, with_address=True)
        comm = state.network.comm
        parts = comm.allgather(rows) if gather == "all" else comm.gather(rows)
        if parts is None:                  # a process that does not receive: its own synapses
            if format == "array":
                arrays = super().get(names, "array", gather=False, multiple_synapses=multiple_synapses)
                return arrays[0] if single else arrays
        else:
            rows = sorted((row for part in parts for row in part), key=lambda row: (row[0], row[1]))
        if format == "array":
            native = self.synapse_type.get_native_names(*names) if isinstance(self.synapse_type, StandardSynapseType) \
                else list(names)
            table = np.array(rows, dtype=float).reshape(len(rows), 2 + len(names))
            pre, post = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
            arrays = self._arrays(pre, post, {name: table[:, 2 + k] for k, name in enumerate(native)}, native,
                                  multiple_synapses)
            return arrays[0] if single else arrays
        if not with_address:
            rows = [row[2] if single else tuple(row[2:]) for row in rows]
        return rows

    def _get_attributes_as_list(self, names):
        pre, post, columns = self._columns(names)
        cols = [columns[name] for name in names]
        return [tuple(float(c[k]) if n not in ("presynaptic_index", "postsynaptic_index") else int(c[k])
                      for n, c in zip(names, cols)) for k in range(len(pre))]

    def _get_attributes_as_arrays(self, names, multiple_synapses="sum"):
        pre, post, columns = self._columns(names)
        return self._arrays(pre, post, columns, names, multiple_synapses)

    def _arrays(self, pre, post, columns, names, multiple_synapses):
        """[pre.size, post.size] arrays of the values in `columns` (per synapse, sorted by (pre, post)), NaN
        where there is no synapse; several synapses of one pair are combined as `multiple_synapses` says."""
        out = []
        for name in names:
            values = np.full((self.pre.size, self.post.size), np.nan)
            v = columns[name]
            if len(pre):
                key = pre * self.post.size + post
                uniq, first = np.unique(key, return_index=True)
                if uniq.size == key.size:
                    values[pre, post] = v
                else:
                    op = {"sum": np.add, "min": np.minimum, "max": np.maximum}.get(multiple_synapses)
                    if op is not None:
                        flat = np.full(self.pre.size * self.post.size, np.nan)
                        flat[uniq] = v[first]
                        rest = np.setdiff1d(np.arange(key.size), first)
                        op.at(flat, key[rest], v[rest])
                        values = flat.reshape(values.shape)
                    elif multiple_synapses == "first":
                        values[pre[first], post[first]] = v[first]
                    else:  # last
                        last = key.size - 1 - np.unique(key[::-1], return_index=True)[1]
                        values[pre[last], post[last]] = v[last]
            out.append(values)
        return out

    # --- writing ------------------------------------------------------------------------------------
    def _synapse_addresses(self, i, j, group, dt):
        """Rows of one engine group with the (row, slot) of each synapse and its projection-level indices."""
        group.prepare(dt)
        rows = group.rows
        r, c = rows.synapse_slots()
        r_h, c_h = group.backend.to_host(r), group.backend.to_host(c)
        post_e = group.backend.to_host(rows.ind)[r_h, c_h].astype(np.int64)
        pre_p = self._inverse(self._pre_parts, i, group.pre.n_total)[r_h]
        post_p = self._inverse(self._post_parts, j, group.post.n_total)[post_e + group.post.cell0]
        return rows, r, c, pre_p, post_p

    def _set_initial_value_array(self, variable, value):
        """Projection.initialize(): the initial value of a synapse model's state variable (e.g. `a`, `u` of
        MultiQuantalSynapse), per synapse."""
        public = [n for n in self._model.state if not n.startswith("_")]
        if variable not in public:
            raise errors.NonExistentParameterError(variable, type(self.synapse_type).__name__, public)
        from copy import deepcopy

        from lazyarray import larray
        from pyNN.parameters import ParameterSpace
        shape = (self.pre.size, self.post.size)
        if isinstance(value, larray):                 # e.g. another synapse type's parameter
            lazy = deepcopy(value)
            lazy.shape = shape
            value = lazy.evaluate(simplify=True)
        space = ParameterSpace({variable: value}, shape=shape)
        space.evaluate(simplify=False)
        dt = simulator.state.dt
        for (i, j), group in self._groups.items():
            rows, r, c, pre_p, post_p = self._synapse_addresses(i, j, group, dt)
            arr = np.asarray(space[variable])
            vals = arr[pre_p, post_p] if arr.ndim == 2 else np.broadcast_to(arr, pre_p.shape)
            rows.vars[variable][r, c] = rows.backend.xp.asarray(vals, dtype=rows.vars[variable].dtype)

    def _set_attributes(self, parameter_space):
        """Evaluate and check every new value first, then write them all: a refused set() changes nothing."""
        dt = simulator.state.dt
        fixed = ["dendritic_delay_fraction"] if isinstance(self.synapse_type, StructuralPlasticityMechanism) else []
        settable = ["weight", "delay"] + [n for n in self._model_parameters if n not in fixed]
        for name in parameter_space.keys():
            if name not in settable:
                raise errors.NonExistentParameterError(name, type(self.synapse_type).__name__, settable)
        parameter_space.evaluate(simplify=False)  # lazy arrays of shape (pre.size, post.size)
        writes = []
        for (i, j), group in self._groups.items():
            rows, r, c, pre_p, post_p = self._synapse_addresses(i, j, group, dt)
            for name, value in parameter_space.items():
                arr = np.asarray(value)
                vals = np.asarray(arr[pre_p, post_p] if arr.ndim == 2 else np.broadcast_to(arr, pre_p.shape), float)
                if name == "weight":
                    self._check_values(vals, np.full(1, simulator.state.min_delay))
                    writes.append((rows, "weight", r, c, vals))
                elif name != "delay":
                    self._model_values({name: vals}, vals.size)
                    writes.append((rows, name, r, c, vals))
                else:
                    self._check_values(np.zeros(1), vals)
                    writes.append((rows, "delay", r, c, delay_steps(vals, dt)))
        for rows, name, r, c, vals in writes:
            rows.vars[name][r, c] = rows.backend.xp.asarray(vals, dtype=rows.vars[name].dtype)
