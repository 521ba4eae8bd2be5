"""EpropTrainer: trains a PyNN network of e-prop neurons on a spike data set, many trials in parallel.

    inp = sim.Population(64, sim.SpikeSourceArray())
    hidden = sim.Population(128, sim.EpropALIF())
    readout = sim.Population(10, sim.LeakyIntegratorReadout())
    p_in = sim.Projection(inp, hidden, sim.FixedProbabilityConnector(0.1), sim.StructuralPlasticityMechanism(
        rewiring=sim.DeepR(l1=1e-4), weight_dynamics=sim.EpropSynapse(weight=w)))
    p_rec = sim.Projection(hidden, hidden, sim.AllToAllConnector(), sim.EpropSynapse(weight=w_rec))
    p_out = sim.Projection(hidden, readout, sim.AllToAllConnector(), sim.EpropSynapse(weight=w_out))
    trainer = sim.EpropTrainer(p_in, p_out, recurrent_projection=p_rec, optimiser=sim.Adam(1e-3), batch_size=64)
    history = trainer.fit(train, epochs=20, validation=test)
    trainer.evaluate(test)  ->  {"loss": ..., "accuracy": ...}
    trainer.save("model.npz"); trainer.restore("model.npz")

The network: an input population (spike sources, one per data-set channel) -> a hidden population of
EpropALIF or EpropLIF neurons (optionally recurrent) -> a LeakyIntegratorReadout population (one per class).
Every projection must have a delay of one time step. Training simulates exactly the network that sim.run
simulates (spikes of a sample given by dataset.to_spike_source_arrays(i, dt=dt) reach the hidden layer one
step after their bin; the readout sees hidden spikes one step later); the prediction is the class whose
readout has the largest sum over the trial. Weights, connectivity (DEEP R) and optimiser moments stay in
the projections' synapse rows; readout biases go back to the readout population's `bias` after each epoch.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from pyNN import errors

from . import simulator
from .engine.learning.eprop import EpropParameters
from .engine.learning.optim import SGD, Adam
from .engine.learning.training import EpropTraining, TrainedProjection
from .engine.neurons.base import refractory_counts
from .populations import Population
from .standardmodels.learning_cells import EpropALIF, EpropLIF, LeakyIntegratorReadout
from .standardmodels.learning_synapses import EpropSynapse
from .standardmodels.structural import StructuralPlasticityMechanism
from .standardmodels.synapses import StaticSynapse

__all__ = ["EpropTrainer", "Adam", "SGD"]

CHECKPOINT_VERSION = 1


def _eprop_synapse(projection):
    """The EpropSynapse behind a projection's synapse type (None for a StaticSynapse: frozen weights)."""
    st = projection.synapse_type
    if isinstance(st, EpropSynapse):
        return st
    if isinstance(st, StructuralPlasticityMechanism) and st.eprop is not None:
        return st.eprop
    if isinstance(st, StaticSynapse):
        return None
    raise errors.ConnectionError(f"projection {projection.label!r}: synapse type {type(st).__name__} cannot be "
                                 "trained by e-prop; use sim.EpropSynapse, sim.StructuralPlasticityMechanism("
                                 "rewiring=sim.DeepR(...), weight_dynamics=sim.EpropSynapse(...)) or, for "
                                 "frozen weights, sim.StaticSynapse")


def _single(population, name):
    value = population.get(name)
    arr = np.asarray(value, float)
    if arr.size != 1 and not np.all(arr == arr.ravel()[0]):
        raise ValueError(f"{name} of population {population.label!r} differs between neurons; e-prop training "
                         "needs one value per population")
    return float(arr.ravel()[0])


class _Progress:
    """A one-line progress bar on stderr, redrawn per batch on a terminal; elsewhere one line per epoch."""

    def __init__(self, enabled, total, epoch, epochs):
        self.live = enabled and sys.stderr.isatty()
        self.enabled, self.total, self.epoch, self.epochs = enabled, total, epoch, epochs
        self.start = time.perf_counter()

    def show(self, done, loss, accuracy):
        if not self.live:
            return
        width = 24
        filled = int(width * done / max(self.total, 1))
        elapsed = time.perf_counter() - self.start
        sys.stderr.write(f"\repoch {self.epoch}/{self.epochs} [{'#' * filled}{'.' * (width - filled)}] "
                         f"{done}/{self.total} loss {loss:.4f} acc {accuracy:.3f} {elapsed:.1f}s")
        sys.stderr.flush()

    def close(self, summary):
        if self.enabled:
            sys.stderr.write(("\r" if self.live else "") + f"{summary}\n")
            sys.stderr.flush()


class EpropTrainer:
    """Trains the input, recurrent and readout projections of an e-prop network (see the module docstring).

    input_projection      input population -> hidden population (EpropALIF or EpropLIF)
    readout_projection    hidden population -> readout population (LeakyIntegratorReadout)
    recurrent_projection  hidden -> hidden, or None
    optimiser             sim.Adam(...) (default Adam(1e-3)) or sim.SGD(...)
    batch_size            trials run in parallel, sharing the weights; one optimiser step per batch
    seed                  seeds the sample order, DEEP R and random feedback
    dtype                 "float64" or "float32" for the training state (weights stay in the rows' type)
    train_bias            whether the readout biases are learned
    """

    def __init__(self, input_projection, readout_projection, recurrent_projection=None, *, optimiser=None,
                 batch_size=32, seed=None, dtype="float64", train_bias=True):
        state = simulator.state
        state.check_alive()
        if state.num_processes > 1:
            raise NotImplementedError(f"EpropTrainer runs in one process; this run has {state.num_processes} MPI "
                                      "processes (start the script without mpiexec to train)")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} is not allowed; it must be an integer >= 1")
        if dtype not in ("float64", "float32"):
            raise ValueError(f"dtype={dtype!r} is not allowed; it must be 'float64' or 'float32'")
        optimiser = Adam() if optimiser is None else optimiser
        if not isinstance(optimiser, (Adam, SGD)):
            raise TypeError(f"optimiser={optimiser!r} is not allowed; it must be sim.Adam(...) or sim.SGD(...)")
        self.batch_size, self.optimiser, self.dtype = int(batch_size), optimiser, np.dtype(dtype).type
        self.input_projection, self.readout_projection = input_projection, readout_projection
        self.recurrent_projection = recurrent_projection
        hidden = input_projection.post
        self.input, self.hidden, self.readout = input_projection.pre, hidden, readout_projection.post
        self._check_network()
        seeds = np.random.SeedSequence(seed if seed is not None else np.random.SeedSequence().entropy)
        s_order, s_feedback, *s_proj = seeds.spawn(5)
        self._order_rng = np.random.default_rng(s_order)
        dt = state.dt
        backend = state.network.backend
        trained = {}
        for name, prj, seq in (("input", input_projection, s_proj[0]), ("recurrent", recurrent_projection, s_proj[1]),
                               ("readout", readout_projection, s_proj[2])):
            if prj is None:
                trained[name] = None
                continue
            group = prj._groups[(0, 0)]
            group.prepare(dt)
            self._check_delays(prj, group, dt)
            syn = _eprop_synapse(prj)
            deep_r = getattr(group, "deep_r", None)
            if deep_r is not None and not syn.trainable:
                raise ValueError(f"projection {prj.label!r} rewires by DEEP R but its EpropSynapse has "
                                 "trainable=False; DEEP R needs trained weights")
            n = group.rows.size()
            dense = deep_r is None and name != "readout" and n == group.rows.n_pre * group.rows.n_post and \
                self._unique_pairs(group.rows)
            tp = TrainedProjection(name, group.rows, trainable=syn is not None and syn.trainable, dense=dense,
                                   deep_r=deep_r, rng=backend.rng(seq) if deep_r is not None else None,
                                   same_population=prj.pre is prj.post, delay_steps=1)
            if deep_r is not None:
                tp.totals = group.deep_r_totals           # Projection.rewiring_counts() shows the totals
            trained[name] = tp
        self._trained = trained
        params = self._parameters(dt)
        out_syn = _eprop_synapse(readout_projection)
        self.feedback_mode = out_syn.feedback if out_syn is not None else "symmetric"
        feedback = None
        if self.feedback_mode == "random":
            rng = np.random.default_rng(s_feedback)
            feedback = rng.standard_normal((hidden.size, self.readout.size)) / np.sqrt(self.readout.size)
        bias = np.broadcast_to(np.asarray(self.readout.get("bias"), float), (self.readout.size,)).copy()
        self.engine = EpropTraining(backend, params, trained["input"], trained["recurrent"], trained["readout"],
                                    bias, optimiser, feedback, train_bias, self.dtype)
        self.n_steps = None
        self.history = {"epoch": [], "loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "rate": [],
                        "time": [], "rewiring": [], "rewiring_per_batch": [], "synapses": []}
        state.trainers.append(self)           # sim.checkpoint() stores its state with the network's

    # --- checks -------------------------------------------------------------------------------------------
    def _check_network(self):
        ip, rp, cp = self.input_projection, self.readout_projection, self.recurrent_projection
        for name, prj in (("input_projection", ip), ("readout_projection", rp), ("recurrent_projection", cp)):
            if prj is None:
                continue
            if not (isinstance(prj.pre, Population) and isinstance(prj.post, Population)):
                raise errors.ConnectionError(f"{name}: e-prop training needs whole Populations on both sides "
                                             f"(got {type(prj.pre).__name__} -> {type(prj.post).__name__})")
            _eprop_synapse(prj)
        if not isinstance(self.hidden.celltype, (EpropALIF, EpropLIF)):
            raise errors.ConnectionError(f"input_projection must end on EpropALIF or EpropLIF neurons, not "
                                         f"{type(self.hidden.celltype).__name__}")
        if rp.pre is not self.hidden:
            raise errors.ConnectionError("readout_projection must start at the hidden population "
                                         "(the target of input_projection)")
        if not isinstance(self.readout.celltype, LeakyIntegratorReadout):
            raise errors.ConnectionError(f"readout_projection must end on LeakyIntegratorReadout neurons, not "
                                         f"{type(self.readout.celltype).__name__}")
        if cp is not None and not (cp.pre is self.hidden and cp.post is self.hidden):
            raise errors.ConnectionError("recurrent_projection must connect the hidden population to itself")
        if self.input is self.hidden or self.input is self.readout:
            raise errors.ConnectionError("input_projection must come from a separate input population")
        for population, names in ((self.hidden, ("v", "a")), (self.readout, ("v",))):
            for name in names:
                if name not in population.celltype.default_initial_values:
                    continue
                value = np.asarray(population.initial_values[name].evaluate(simplify=True), float)
                if np.any(value != 0):
                    raise ValueError(f"initial {name} of population {population.label!r} is not 0; e-prop "
                                     "training starts every trial from v = a = 0 (leave the initial values "
                                     "at their defaults)")
        ours = {id(g) for prj in (ip, rp, cp) if prj is not None for g in prj._groups.values()}
        layers = {id(self.hidden._engine_group): "hidden", id(self.readout._engine_group): "readout"}
        for group in simulator.state.network.projections:
            layer = layers.get(id(group.post))
            if layer is not None and id(group) not in ours:
                raise errors.ConnectionError(
                    f"projection {group.label!r} also ends on the {layer} population; e-prop training knows only "
                    "the input, recurrent and readout projections given to the trainer (combine weights into "
                    "one EpropSynapse projection)")

    @staticmethod
    def _check_delays(prj, group, dt):
        rows = group.rows
        if rows.size() == 0:
            return
        r, c = rows.synapse_slots()
        delays = rows.backend.to_host(rows.vars["delay"][r, c])
        if np.any(delays != 1):
            bad = float(delays[delays != 1][0]) * dt
            raise errors.ConnectionError(f"projection {prj.label!r} has delay={bad} ms; e-prop training needs "
                                         f"every delay equal to the time step ({dt} ms)")

    @staticmethod
    def _unique_pairs(rows):
        pre, post, _ = rows.to_coo()
        return np.unique(pre * rows.n_post + post).size == pre.size

    def _parameters(self, dt):
        hidden = self.hidden
        alif = isinstance(hidden.celltype, EpropALIF)
        into_hidden = [p for p in (self.input_projection, self.recurrent_projection) if p is not None]
        regs = {(s.c_reg, s.f_target) for s in map(_eprop_synapse, into_hidden) if s is not None}
        if len(regs) > 1:
            raise ValueError(f"the projections into the hidden layer disagree on (c_reg, f_target): {sorted(regs)}")
        c_reg, f_target = regs.pop() if regs else (0.0, 10.0)
        return EpropParameters(
            dt=dt, tau_m=_single(hidden, "tau_m"), v_th=_single(hidden, "v_thresh"),
            tau_a=_single(hidden, "tau_adapt") if alif else 1.0, beta=_single(hidden, "beta") if alif else 0.0,
            n_ref=int(refractory_counts(_single(hidden, "tau_refrac"), dt, np)), gamma=_single(hidden, "gamma"),
            tau_out=_single(self.readout, "tau_m"), c_reg=c_reg, f_target=f_target / 1000.0,
            input_delay=1, readout_delay=1)

    def _check_channels(self, dataset, what):
        if dataset.n_channels != self.input.size:
            raise ValueError(f"{what} has {dataset.n_channels} channels but the input population has "
                             f"{self.input.size} neurons")

    def _check_dataset(self, dataset, what):
        self._check_channels(dataset, what)
        if len(dataset) == 0:
            raise ValueError(f"{what} is empty")
        labels = dataset.labels
        if labels.min() < 0 or labels.max() >= self.readout.size:
            raise ValueError(f"{what} has labels up to {int(labels.max())} but the readout population has "
                             f"{self.readout.size} neurons (one per class)")
        n_steps = dataset.n_steps_for(simulator.state.dt)
        return n_steps

    # --- training -----------------------------------------------------------------------------------------
    def fit(self, dataset, epochs=1, validation=None, progress=True):
        """Train for `epochs` passes over `dataset` (a pynn_sparsegpu.datasets.SpikeDataset), in shuffled
        batches; evaluate on `validation` after each epoch when given. Returns the history: per epoch the
        mean training loss and accuracy, validation loss and accuracy, hidden firing rate (Hz), wall time (s),
        DEEP R counts per projection ("rewiring"; per batch in "rewiring_per_batch", a list per epoch) and
        synapse count per projection."""
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs={epochs!r} is not allowed; it must be an integer >= 0")
        n_steps = self._check_dataset(dataset, "dataset")
        if validation is not None:
            self._check_dataset(validation, "validation")
        dt = simulator.state.dt
        n_batches = -(-len(dataset) // self.batch_size)
        for _ in range(int(epochs)):
            epoch = len(self.history["epoch"]) + 1
            bar = _Progress(progress, n_batches, epoch, len(self.history["epoch"]) + epochs - _)
            t0 = time.perf_counter()
            losses, accs, rates, sizes, per_batch = [], [], [], [], []
            rewiring = {name: {"dormant": 0, "formed": 0, "failed": 0}
                        for name, tp in self._trained.items() if tp is not None and tp.deep_r is not None}
            for k, (x, labels) in enumerate(dataset.batches(self.batch_size, shuffle=True, seed=self._order_rng,
                                                            dt=dt, n_steps=n_steps)):
                result = self.engine.train_batch(x, labels)
                losses.append(result["loss"]), accs.append(result["accuracy"]), rates.append(result["rate"])
                sizes.append(len(labels))
                per_batch.append({name: {k: int(v) for k, v in counts.items()}
                                  for name, counts in result["rewiring"].items()})
                for name, counts in result["rewiring"].items():
                    for key in rewiring[name]:
                        rewiring[name][key] += int(counts[key])
                bar.show(k + 1, float(np.average(losses, weights=sizes)), float(np.average(accs, weights=sizes)))
            h = self.history
            h["epoch"].append(epoch)
            h["loss"].append(float(np.average(losses, weights=sizes)))
            h["accuracy"].append(float(np.average(accs, weights=sizes)))
            h["rate"].append(float(np.average(rates, weights=sizes)) * 1000.0)
            h["rewiring"].append(rewiring)
            h["rewiring_per_batch"].append(per_batch)
            h["synapses"].append({name: tp.rows.size() for name, tp in self._trained.items() if tp is not None})
            h["time"].append(time.perf_counter() - t0)
            if validation is not None:
                metrics = self.evaluate(validation)
                h["val_loss"].append(metrics["loss"])
                h["val_accuracy"].append(metrics["accuracy"])
            else:
                h["val_loss"].append(float("nan"))
                h["val_accuracy"].append(float("nan"))
            self._write_bias()
            val = f" val acc {h['val_accuracy'][-1]:.3f}" if validation is not None else ""
            bar.close(f"epoch {epoch}: loss {h['loss'][-1]:.4f} acc {h['accuracy'][-1]:.3f}{val} "
                      f"({h['time'][-1]:.1f} s)")
        return self.history

    def evaluate(self, dataset, batch_size=None):
        """Mean per-step cross-entropy loss and accuracy (summed readout) over `dataset`, without learning."""
        n_steps = self._check_dataset(dataset, "dataset")
        size = self.batch_size if batch_size is None else int(batch_size)
        total_loss = total_correct = 0.0
        for x, labels in dataset.batches(size, shuffle=False, dt=simulator.state.dt, n_steps=n_steps):
            out = self.engine.predict(x, labels)
            total_loss += out["loss"] * len(labels)
            total_correct += out["accuracy"] * len(labels)
        return {"loss": total_loss / len(dataset), "accuracy": total_correct / len(dataset)}

    def predict(self, dataset, batch_size=None):
        """Predicted class of every sample (argmax of the summed readout), and the summed readouts."""
        self._check_channels(dataset, "dataset")
        n_steps = dataset.n_steps_for(simulator.state.dt)
        size = self.batch_size if batch_size is None else int(batch_size)
        sums = []
        backend = simulator.state.network.backend
        for x, _ in dataset.batches(size, shuffle=False, dt=simulator.state.dt, n_steps=n_steps):
            sums.append(backend.to_host(self.engine.predict(x)["y_sum"]))
        y = np.concatenate(sums) if sums else np.zeros((0, self.readout.size))
        return y.argmax(axis=1), y

    def _write_bias(self):
        bias = simulator.state.network.backend.to_host(self.engine.bias).astype(float)
        self.readout.set(bias=bias)

    # --- checkpoints (numpy .npz, no pickle) --------------------------------------------------------------
    def save(self, path):
        """Write weights, connectivity, signs and optimiser moments of every projection, readout biases,
        optimiser step, feedback matrix, history and random-generator states to an .npz file."""
        arrays = {"version": np.asarray(CHECKPOINT_VERSION), **self._state_arrays()}
        for name, tp in self._trained.items():
            if tp is None:
                continue
            pre, post, values = tp.rows.to_coo()
            arrays[f"{name}/pre"], arrays[f"{name}/post"] = pre, post
            arrays[f"{name}/capacity"] = np.asarray(tp.rows.capacity)
            arrays[f"{name}/shape"] = np.asarray([tp.rows.n_pre, tp.rows.n_post])
            for var, v in values.items():
                arrays[f"{name}/var/{var}"] = v
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    def _state_arrays(self) -> dict:
        """The trainer's own state (everything but the synapses, which the projections' rows hold) as host
        arrays: optimiser step, readout biases and their moments, feedback matrix, history, DEEP R totals and
        the random generators. sim.checkpoint() stores it with the network's state."""
        backend = simulator.state.network.backend
        eng = self.engine
        arrays = {"step": np.asarray(eng.step), "bias": backend.to_host(eng.bias),
                  "bias_m": backend.to_host(eng.bias_m), "bias_v": backend.to_host(eng.bias_v),
                  "history": np.asarray(json.dumps(self.history)),
                  "order_rng": np.asarray(json.dumps(self._order_rng.bit_generator.state))}
        if eng.feedback is not None:
            arrays["feedback"] = backend.to_host(eng.feedback)
        for name, tp in self._trained.items():
            if tp is None:
                continue
            arrays[f"{name}/totals"] = np.asarray(json.dumps(tp.totals))
            if isinstance(tp.rng, np.random.Generator):
                arrays[f"{name}/rng"] = np.asarray(json.dumps(tp.rng.bit_generator.state))
        return arrays

    def _check_state_arrays(self, data, path) -> None:
        """Raise ValueError when `data` (from _state_arrays) does not fit this trainer."""
        for key in ("step", "bias", "bias_m", "bias_v", "history", "order_rng"):
            if key not in data:
                raise ValueError(f"{path}: the trainer's state lacks {key!r}")
        if data["bias"].shape != (self.readout.size,):
            raise ValueError(f"{path} holds {data['bias'].shape[0]} readout biases, the readout has "
                             f"{self.readout.size} neurons")
        if "feedback" in data and data["feedback"].shape != (self.hidden.size, self.readout.size):
            raise ValueError(f"{path}: the feedback matrix has shape {data['feedback'].shape}")

    def _load_state_arrays(self, data) -> None:
        """Load what _state_arrays wrote (checked by _check_state_arrays)."""
        backend = simulator.state.network.backend
        eng = self.engine
        for name, tp in self._trained.items():
            if tp is None:
                continue
            if f"{name}/totals" in data:
                tp.totals.clear()
                tp.totals.update(json.loads(str(data[f"{name}/totals"])))
            if f"{name}/rng" in data and isinstance(tp.rng, np.random.Generator):
                tp.rng.bit_generator.state = json.loads(str(data[f"{name}/rng"]))
        eng.step = int(data["step"])
        eng.bias = backend.asarray(data["bias"], dtype=eng.bias.dtype)
        eng.bias_m = backend.asarray(data["bias_m"], dtype=eng.bias.dtype)
        eng.bias_v = backend.asarray(data["bias_v"], dtype=eng.bias.dtype)
        if "feedback" in data:
            eng.feedback = backend.asarray(data["feedback"], dtype=self.dtype)
        self.history = json.loads(str(data["history"]))
        self._order_rng.bit_generator.state = json.loads(str(data["order_rng"]))

    def restore(self, path):
        """Load a checkpoint written by save() into this trainer's network (same populations and projections;
        connectivity may differ, as DEEP R leaves it)."""
        from .engine.connectivity import RaggedRows
        backend = simulator.state.network.backend
        with np.load(path, allow_pickle=False) as data:
            if "version" not in data or int(data["version"]) != CHECKPOINT_VERSION:
                raise ValueError(f"{path} is not an EpropTrainer checkpoint (version {CHECKPOINT_VERSION})")
            self._check_state_arrays(data, path)       # check everything before changing anything
            for name, tp in self._trained.items():
                if tp is None:
                    continue
                if f"{name}/pre" not in data or f"{name}/shape" not in data:
                    raise ValueError(f"{path} has no {name} projection")
                shape = tuple(int(v) for v in data[f"{name}/shape"])
                if shape != (tp.rows.n_pre, tp.rows.n_post):
                    raise ValueError(f"{path}: the {name} projection was saved as {shape[0]} -> {shape[1]} "
                                     f"neurons, this network's is {tp.rows.n_pre} -> {tp.rows.n_post}")
                missing = [var for var in tp.rows.vars if f"{name}/var/{var}" not in data]
                if missing:
                    raise ValueError(f"{path}: the {name} projection lacks synapse variables {missing}")
            for name, tp in self._trained.items():
                if tp is None:
                    continue
                rows = tp.rows
                pre, post = data[f"{name}/pre"], data[f"{name}/post"]
                dtypes = {var: arr.dtype for var, arr in rows.vars.items()}
                values = {var: data[f"{name}/var/{var}"] for var in dtypes}
                new = RaggedRows.from_coo(backend, rows.n_pre, rows.n_post, pre, post, values, dtypes,
                                          capacity=max(int(data[f"{name}/capacity"]), rows.capacity))
                rows.ind, rows.row_length, rows.vars, rows.capacity = new.ind, new.row_length, new.vars, new.capacity
            self._load_state_arrays(data)
        self._write_bias()
