"""Population, PopulationView and Assembly: PyNN's common classes over one engine NeuronGroup each."""

from __future__ import annotations

import numpy as np
from pyNN import common, errors
from pyNN.parameters import ArrayParameter, ParameterSpace, Sequence, simplify
from pyNN.standardmodels import StandardCellType

from . import simulator
from .recording import Recorder


def _to_engine_values(value):
    """Evaluated PyNN parameter values -> engine values (sequences become lists of host arrays)."""
    if isinstance(value, (Sequence, ArrayParameter)):
        return [np.asarray(value.value, dtype=float)]
    arr = np.asarray(value)
    if arr.dtype == object:
        return [np.asarray(v.value if isinstance(v, (Sequence, ArrayParameter)) else v, dtype=float)
                for v in arr.ravel()]
    return arr


def _check_sequences(celltype, values):
    """Spike times must be sorted and non-negative (PyNN's rule), with a message naming the value."""
    for name in ("spike_times",):
        if name in values:
            for seq in values[name]:
                seq = np.asarray(seq, dtype=float)
                if seq.size and (np.any(~np.isfinite(seq)) or np.any(seq < 0)):
                    raise errors.InvalidParameterValueError(
                        f"{type(celltype).__name__}: spike_times {seq.tolist()} contain negative, NaN or infinite "
                        "times; times must be finite and >= 0 ms")
                if seq.size > 1 and np.any(np.diff(seq) < 0):
                    raise errors.InvalidParameterValueError(
                        f"{type(celltype).__name__}: spike_times {seq.tolist()} are not sorted; "
                        "they must be in increasing order")


def _check_lengths(celltype, size, parameters, what):
    """A per-cell array of values must hold one value per cell: name the parameter, what was given and what is
    allowed (before PyNN's ParameterSpace turns it into a shape message)."""
    if isinstance(celltype, type):           # a cell class and a dict of parameters
        schema = {name: Sequence if isinstance(default, Sequence) else type(default)
                  for name, default in getattr(celltype, "default_parameters", {}).items()}
    else:
        schema = celltype.get_schema() if hasattr(celltype, "get_schema") else {}
    for name, value in parameters.items():
        if schema.get(name) is Sequence:         # one sequence for all cells, or a list of one per cell
            per_cell = isinstance(value, (list, tuple, np.ndarray)) and len(value) > 0 and \
                all(isinstance(v, (list, tuple, np.ndarray, Sequence)) for v in value)
            if per_cell and len(value) != size:
                raise errors.InvalidDimensionsError(
                    f"{name}: {len(value)} sequences given for {what} of {size} cells; give one sequence for all "
                    f"of them, or {size} sequences")
            continue
        if isinstance(value, (str, Sequence)) or callable(value):
            continue
        if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) >= 1 and len(value) != size:
            raise errors.InvalidDimensionsError(
                f"{name}: {len(value)} values given for {what} of {size} cells; give one value for all of "
                f"them, or {size} values")


class _EngineParameters:
    """Shared by Population and PopulationView: read and write native parameters of the engine group."""

    def set(self, **parameters):
        _check_lengths(self.celltype, self.size, parameters, type(self).__name__)
        super().set(**parameters)

    def _engine_index(self):
        raise NotImplementedError

    def _get_parameters(self, *names):
        if isinstance(self.celltype, StandardCellType):
            if any(name in self.celltype.computed_parameters() for name in names):
                native_names = self.celltype.get_native_names()
            else:
                native_names = self.celltype.get_native_names(*names)
            return self.celltype.reverse_translate(self._get_native_parameters(*native_names))
        return self._get_native_parameters(*names)

    def _get_native_parameters(self, *names):
        group = self._engine_group
        _, index = group.local_positions(self._engine_index())     # the cells of this process (PyNN gathers)
        out = {}
        for name in names:
            value = group.params[name]
            if isinstance(value, list):
                selected = [value[i] for i in index]
                out[name] = np.array([Sequence(v) for v in selected], dtype=Sequence)
            else:
                values = group.backend.to_host(value)[index]
                out[name] = simplify(values) if values.size else values     # (none here: another process has them)
        return ParameterSpace(out, shape=(len(index),))

    def _set_parameters(self, parameter_space):
        index = self._engine_index()
        parameter_space.shape = (len(index),)
        parameter_space.evaluate(simplify=False)
        values = {name: _to_engine_values(value) for name, value in parameter_space.items()}
        _check_sequences(self.celltype, values)
        if "spike_times" in values:       # spikes recorded so far keep the times given when they were emitted
            population = self if isinstance(self, Population) else self.grandparent
            population.recorder.freeze_given_times()
        try:
            self._engine_group.set_parameters(values, index=index)
        except ValueError as err:
            raise _invalid(err, self._engine_group) from None

    def _set_initial_value_array(self, variable, initial_values):
        index = self._engine_index()
        initial_values.shape = (len(index),)
        values = initial_values.evaluate(simplify=False)
        try:
            self._engine_group.set_initial(variable, np.asarray(values, dtype=float), index=index)
        except ValueError as err:
            raise _invalid(err, self._engine_group) from None
        simulator.state.network.initial_values_changed(self._engine_group)


_simplify = simplify      # (Assembly.get has an argument of that name)


def _model_for_estimate(cellclass):
    """The engine model of a cell type given as a class or an instance, for the memory estimate before the
    population is made (None when it cannot be made without the user's arguments)."""
    try:
        celltype = cellclass() if isinstance(cellclass, type) else cellclass
        return celltype.engine_model()
    except Exception:
        return None


def _invalid(err, group):
    """PyNN's InvalidParameterValueError from the engine's message, which names the cell type by the engine
    model's class (IFCurrExp): by the name the user gave (IF_curr_exp)."""
    message = str(err)
    engine_name = type(group.model).__name__
    if message.startswith(engine_name + ":"):
        message = getattr(group, "display_name", engine_name) + message[len(engine_name):]
    return errors.InvalidParameterValueError(message)


class Assembly(common.Assembly):
    __doc__ = common.Assembly.__doc__
    _simulator = simulator

    def get(self, parameter_names, gather=False, simplify=True):
        """PyNN's Assembly.get, which also works on a process that holds none of the cells."""
        single = isinstance(parameter_names, str)
        names = (parameter_names,) if single else tuple(parameter_names)
        parts = [p.get(names, gather, simplify=False) for p in self.populations]
        values = []
        for k in range(len(names)):
            value = np.hstack([part[k] for part in parts])
            values.append(_simplify(value) if simplify and value.size else value)
        return values[0] if single else values


class PopulationView(_EngineParameters, common.PopulationView):
    __doc__ = common.PopulationView.__doc__
    _simulator = simulator
    _assembly_class = Assembly

    @property
    def _engine_group(self):
        return self.parent._engine_group

    def _engine_index(self):
        return self.parent._engine_index()[self.mask]

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)


class Population(_EngineParameters, common.Population):
    __doc__ = common.Population.__doc__
    _simulator = simulator
    _recorder_class = Recorder
    _assembly_class = Assembly

    @simulator.streams_kept_on_error
    def __init__(self, size, cellclass, cellparams=None, structure=None, initial_values={}, label=None):
        simulator.state.check_alive()
        dims = size if isinstance(size, tuple) else (size,)
        if not dims or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1
                               for d in dims):
            raise ValueError(f"size={size!r} is not allowed; it must be a positive whole number of cells (or a "
                             "tuple of positive whole numbers)")
        # too large for memory: refused first, before anything else is looked at or made
        model = _model_for_estimate(cellclass)
        if model is not None:
            simulator.state.network.check_memory(model, int(np.prod(dims)),
                                                 getattr(cellclass, "__name__", type(cellclass).__name__))
        self._memory_checked = model is not None
        # a per-cell list of the wrong length: name the parameter (PyNN's message names only the shapes)
        if isinstance(cellclass, StandardCellType):
            given = {name: getattr(value, "base_value", value) for name, value in cellclass.parameter_space.items()}
            _check_lengths(cellclass, int(np.prod(dims)), given, "a Population")
        elif isinstance(cellclass, type) and issubclass(cellclass, StandardCellType) and cellparams:
            _check_lengths(cellclass, int(np.prod(dims)), cellparams, "a Population")
        state = simulator.state
        id_counter = state.id_counter
        try:
            super().__init__(size, cellclass, cellparams, structure, initial_values, label)
        except BaseException:
            # PyNN registers the recorder before it makes the cells and sets the initial values after: a
            # refused population must leave neither a recorder (reset() would ask it for its data) nor cells
            state.recorders.discard(self.__dict__.get("recorder"))
            group = self.__dict__.get("_engine_group")
            if group is not None and group in state.network.groups:
                state.network.groups.remove(group)
            state.id_counter = id_counter
            raise
        state.populations.append(self)

    def _create_cells(self):
        if not isinstance(self.celltype, StandardCellType) or not hasattr(self.celltype, "engine_model"):
            raise errors.InvalidModelError(
                f"cell type {type(self.celltype).__name__} is not available in pyNN.sparsegpu; "
                "use one of sim.list_standard_models()")
        state = simulator.state
        model = self.celltype.engine_model()
        if not self._memory_checked:       # (a cell type that needed the user's parameters to be made)
            state.network.check_memory(model, self.size, type(self.celltype).__name__)
        first = state.id_counter
        self.all_cells = np.array([simulator.ID(i) for i in range(first, first + self.size)], dtype=simulator.ID)
        for cell in self.all_cells:
            cell.parent = self
        state.id_counter += self.size
        self._engine_group = state.network.add_group(model, self.size, self.label)
        group = self._engine_group     # with several MPI processes, this one has a contiguous block of cells
        self._mask_local = np.zeros((self.size,), dtype=bool)
        self._mask_local[group.cell0:group.cell0 + group.n] = True
        self._engine_group.display_name = type(self.celltype).__name__     # the name users know
        self._engine_group.dt = state.dt      # parameters are checked against it (NeuronModel.check_timestep)
        parameter_space = self.celltype.native_parameters
        parameter_space.shape = (self.size,)
        parameter_space.evaluate(simplify=False)
        values = {name: _to_engine_values(value) for name, value in parameter_space.items()}
        try:
            _check_sequences(self.celltype, values)
            self._engine_group.set_parameters(values)
        except (ValueError, errors.InvalidParameterValueError) as err:
            raise _invalid(err, self._engine_group) from None     # (Population.__init__ undoes it)

    def _engine_index(self):
        return np.arange(self.size)

    def id_to_index(self, id):
        """PyNN's id_to_index, which also takes an empty array (the cells recorded on a process that has
        none of them, when several MPI processes gather data)."""
        if not isinstance(id, (int, np.integer, PopulationView)) and np.size(id) == 0:
            return np.zeros(0, dtype=int)
        return super().id_to_index(id)

    def _get_view(self, selector, label=None):
        return PopulationView(self, selector, label)
