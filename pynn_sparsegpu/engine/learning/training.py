"""Training of an e-prop network whose synapses live in ragged rows (the rows the simulator runs).

Each batch: the weights are read from the rows of the input, recurrent and readout projections (a flat list of
the synapses in use, or a dense matrix for a complete projection), EpropNetwork computes the gradients over the
batch's trials in parallel, the optimiser updates the weights and its moments in the rows (rows.vars "opt_m",
"opt_v"), and DEEP R (when the projection has one) adds its L1 term and random walk and rewires in place
(rows.vars "sign"). The rows are the only copy of the connectivity: sim.run, Projection.get and checkpoints
all see the trained network.
"""

from __future__ import annotations

import numpy as np

from .eprop import DenseSynapses, EpropNetwork, SynapseList


class TrainedProjection:
    """One projection's rows as training uses them.

    trainable        whether its weights are learned (False: frozen)
    dense            run it as a dense matrix (a complete projection)
    deep_r           a DeepR rule (or None); rng its random stream; same_population: pre and post are the
                     same neurons (for self pairs); delay_steps: delay of the synapses DEEP R creates
    """

    def __init__(self, name, rows, *, trainable=True, dense=False, deep_r=None, rng=None, same_population=False,
                 delay_steps=1):
        self.name, self.rows, self.trainable, self.dense = name, rows, bool(trainable), bool(dense)
        self.deep_r, self.rng, self.same_population, self.delay_steps = deep_r, rng, same_population, delay_steps
        self.totals = {"dormant": 0, "formed": 0, "failed": 0}
        self.has_optimiser_state = all(k in rows.vars for k in ("opt_m", "opt_v"))
        if self.trainable and not self.has_optimiser_state:
            raise ValueError(f"projection {name!r}: trained synapses need optimiser state in their rows")
        if deep_r is not None:
            self.assign_signs()

    def assign_signs(self):
        """Give every synapse without a sign (0) the sign of its weight (random for a zero weight)."""
        xp = self.rows.backend.xp
        r, c = self.rows.synapse_slots()
        sign = self.rows.vars["sign"][r, c]
        unset = sign == 0
        if bool(unset.any()):                                     # synchronize!
            fresh = self.deep_r.initial_signs(self.rows.vars["weight"][r, c], self.rng, xp)
            self.rows.vars["sign"][r, c] = xp.where(unset, fresh, sign)

    def _gather(self):
        """The weights of the synapses in use, in slot order; remembers their slots and targets."""
        rows, xp = self.rows, self.rows.backend.xp
        self._r, self._c = rows.synapse_slots()
        self._post = rows.ind[self._r, self._c].astype(xp.int64)
        return rows.vars["weight"][self._r, self._c]

    def read(self, dtype):
        """The weights of this batch: DenseSynapses (dense) or a SynapseList."""
        rows, xp = self.rows, self.rows.backend.xp
        weight = self._gather()
        if self.dense:
            return DenseSynapses(xp, self._matrix(weight, dtype), dtype)
        return SynapseList(xp, self._r, self._post, weight, rows.n_pre, rows.n_post, dtype)

    def read_matrix(self, dtype):
        """The weights of this batch as W[post, pre] (the readout's form, whatever the connectivity)."""
        return self._matrix(self._gather(), dtype)

    def _matrix(self, weight, dtype):
        """W[post, pre] from per-synapse weights in slot order (pairs holding several synapses sum them)."""
        xp, rows = self.rows.backend.xp, self.rows
        flat = xp.bincount(self._post * rows.n_pre + self._r, weights=weight.astype(float),
                           minlength=rows.n_pre * rows.n_post)
        return flat.reshape(rows.n_post, rows.n_pre).astype(dtype)

    def per_synapse(self, grad):
        """A gradient shaped like what read() returned, as one value per synapse in slot order."""
        return grad[self._post, self._r] if grad.ndim == 2 else grad

    def apply(self, grad, optimiser, step: int):
        """Update weights (and optimiser moments) from a per-synapse gradient; with DEEP R also rewire.
        Returns DEEP R's counts for this batch (or None)."""
        if not self.trainable:
            return None
        rows, xp = self.rows, self.rows.backend.xp
        r, c = self._r, self._c
        real = rows.vars["weight"].dtype
        w = rows.vars["weight"][r, c].astype(real)
        g = grad.astype(real)
        if self.deep_r is not None:
            sign = rows.vars["sign"][r, c]
            g = self.deep_r.penalise(g, sign)
        w, m, v = optimiser.update(w, g, rows.vars["opt_m"][r, c], rows.vars["opt_v"][r, c], step, xp)
        if self.deep_r is not None:
            w = self.deep_r.perturb(w, sign, optimiser.learning_rate, self.rng)
        rows.vars["weight"][r, c] = w
        rows.vars["opt_m"][r, c] = m
        rows.vars["opt_v"][r, c] = v
        if self.deep_r is None:
            return None
        counts = self.deep_r.rewire(rows, self.rng, self.same_population, {"delay": self.delay_steps})
        for key in self.totals:
            self.totals[key] += int(counts[key])
        return counts


class EpropTraining:
    """An e-prop network over trained projections: inp (input -> hidden), rec (hidden -> hidden, or None) and
    out (hidden -> readout), with readout biases. `feedback` is None (symmetric) or a fixed matrix
    B [n_hidden, n_out]; `dtype` the floating type of the simulation state."""

    def __init__(self, backend, params, inp: TrainedProjection, rec, out: TrainedProjection, bias,
                 optimiser, feedback=None, train_bias=True, dtype=np.float64):
        self.backend, self.xp, self.params = backend, backend.xp, params
        self.inp, self.rec, self.out = inp, rec, out
        self.projections = [p for p in (inp, rec, out) if p is not None]
        self.optimiser, self.dtype, self.train_bias = optimiser, dtype, bool(train_bias)
        xp = self.xp
        self.bias = xp.asarray(bias, dtype=out.rows.vars["weight"].dtype)
        self.bias_m, self.bias_v = xp.zeros_like(self.bias), xp.zeros_like(self.bias)
        self.feedback = None if feedback is None else xp.asarray(feedback, dtype=dtype)
        self.step = 0                       # optimiser steps so far
        self.n_hidden = inp.rows.n_post

    def _network(self):
        xp, n = self.xp, self.n_hidden
        w_in = self.inp.read(self.dtype)
        if self.rec is not None:
            w_rec = self.rec.read(self.dtype)
        else:
            w_rec = SynapseList(xp, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), n, n, self.dtype)
        w_out = self.out.read_matrix(self.dtype)
        return EpropNetwork(xp, self.params, w_in, w_rec, w_out, self.bias, self.feedback, self.dtype)

    def train_batch(self, x, labels):
        """One optimiser step from a batch: x [batch, T, n_in] input spike counts, labels [batch]. Returns
        the loss, accuracy, spike rate (per neuron per ms) and DEEP R counts per projection name."""
        xp = self.xp
        net = self._network()
        n_batch = x.shape[0]
        grads = net.gradients(xp.asarray(x), labels, record_spikes=False)
        self.step += 1
        rewiring = {}
        for proj, key in ((self.inp, "w_in"), (self.rec, "w_rec"), (self.out, "w_out")):
            if proj is None:
                continue
            counts = proj.apply(proj.per_synapse(grads[key]) / n_batch, self.optimiser, self.step)
            if counts is not None:
                rewiring[proj.name] = counts
        if self.train_bias:
            self.bias, self.bias_m, self.bias_v = self.optimiser.update(
                self.bias, grads["b_out"].astype(self.bias.dtype) / n_batch, self.bias_m, self.bias_v,
                self.step, xp)
        rate = float(grads["counts"].mean()) / (x.shape[1] * self.params.dt)       # synchronize!
        return {"loss": grads["loss"], "accuracy": grads["accuracy"], "rate": rate, "rewiring": rewiring}

    def predict(self, x, labels=None):
        """EpropNetwork.forward on a batch: summed readout, hidden spike counts (and loss and accuracy)."""
        return self._network().forward(self.xp.asarray(x), labels)
