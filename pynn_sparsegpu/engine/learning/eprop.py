"""e-prop (Bellec et al. 2020) for a recurrent spiking network, with trials batched on the first axis.

input x (n_in) -> recurrent LIF/ALIF z (n_rec) -> leaky readouts y (n_out); one step dt, t = 1..T:

    I_j^t   = sum_i W_in[j,i] x_i^{t-d_in} + sum_i W_rec[j,i] z_i^{t-1}
    v_j^t   = alpha v_j^{t-1} + I_j^t - v_th z_j^{t-1}              reset by subtraction
    a_j^t   = rho a_j^{t-1} + z_j^{t-1};  A_j^t = v_th + beta a_j^t  (beta = 0: LIF)
    z_j^t   = H(v_j^t - A_j^t), none during n_ref steps after a spike
    psi_j^t = (gamma / v_th) max(0, 1 - |v_j^t - A_j^t| / v_th), 0 while refractory
    y_k^t   = kappa y_k^{t-1} + sum_j W_out[k,j] z_j^{t-d_out} + b_k;  pi^t = softmax(y^t)

d_in, d_out (input_delay, readout_delay) are 0 in Bellec et al.; 1 reproduces a PyNN network whose every
projection has a delay of one time step, as the simulator runs it.

Per synapse j <- i with presynaptic signal s_i^t (x_i^{t-d_in} or z_i^{t-1}):
    eps_v^t = alpha eps_v^{t-1} + s_i^t        (one trace per source: the same for all its synapses)
    eps_a^t = psi_j^{t-1} eps_v^{t-1} + (rho - psi_j^{t-1} beta) eps_a^{t-1}    (ALIF only)
    e^t     = psi_j^t (eps_v^t - beta eps_a^t);   ebar^t = kappa ebar^{t-1} + e^t
    dW_ji  += L_j^t ebar^{t-d_out},  L^t = B (pi^t - onehot(target)),  B = W_out^T (symmetric) or fixed
    firing-rate regularisation: dW_ji += c_reg (f_j - f_target) sum_t e^t / T, f_j = sum_t z_j^t / (T dt)
Readout: dW_out += (pi^t - onehot) zbar^{t-d_out} (zbar^t = kappa zbar^{t-1} + z^t), db += pi^t - onehot.
Gradients are summed over the trials of a batch.

Connectivity is either a SynapseList (flat pre, post, weight over the synapses in use, taken from ragged rows,
so work follows the number of synapses, never the row capacity; per-synapse state [batch, n_syn]) or
DenseSynapses (a full weight matrix W[post, pre]; per-synapse state [batch, n_post, n_pre], computed by
broadcasting, the fastest way to run a complete projection). Both expose the same four operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class EpropParameters:
    dt: float = 1.0            # ms
    tau_m: float = 20.0        # membrane time constant (ms)
    tau_a: float = 2000.0      # adaptation time constant (ms)
    beta: float = 0.0          # adaptation strength (0: LIF)
    v_th: float = 0.6          # threshold
    n_ref: int = 0             # refractory steps
    tau_out: float = 20.0      # readout time constant (ms)
    gamma: float = 0.3         # pseudo-derivative dampening
    c_reg: float = 0.0         # firing-rate regularisation strength
    f_target: float = 0.01     # target rate (spikes per ms)
    input_delay: int = 0       # steps from an input spike to the recurrent layer (0 or 1)
    readout_delay: int = 0     # steps from a recurrent spike to the readout (0 or 1)


class SynapseList:
    """Synapses in use as flat device arrays: pre, post (int64) and weight, in row order of their rows."""

    def __init__(self, xp, pre, post, weight, n_pre, n_post, dtype=float):
        self.xp, self.n_pre, self.n_post = xp, int(n_pre), int(n_post)
        self.pre = xp.asarray(pre, dtype=xp.int64)
        self.post = xp.asarray(post, dtype=xp.int64)
        self.weight = xp.asarray(weight, dtype=dtype)
        self.shape = (int(self.pre.shape[0]),)

    @classmethod
    def dense(cls, xp, matrix):
        """All n_post x n_pre pairs of a weight matrix W[post, pre]."""
        n_post, n_pre = matrix.shape
        post, pre = np.divmod(np.arange(n_post * n_pre), n_pre)
        return cls(xp, pre, post, np.asarray(matrix, float).ravel(), n_pre, n_post)

    @classmethod
    def from_rows(cls, rows, weight_var="weight"):
        """The synapses of a RaggedRows (work and memory follow row_length, not capacity)."""
        xp = rows.backend.xp
        r, c = rows.synapse_slots()
        return cls(xp, r, rows.ind[r, c].astype(xp.int64), rows.vars[weight_var][r, c], rows.n_pre, rows.n_post,
                   dtype=rows.vars[weight_var].dtype)

    def at_pre(self, a):
        """Per-source values [batch, n_pre] seen by each synapse: [batch, n_syn]."""
        return a[:, self.pre]

    def at_post(self, a):
        """Per-target values [batch, n_post] seen by each synapse: [batch, n_syn]."""
        return a[:, self.post]

    def batch_dot(self, L, a):
        """sum over trials b of L[b, post] a[b, synapse]: per-target values times per-synapse values."""
        return self.xp.einsum("bm,bm->m", L[:, self.post], a)

    def drive(self, signal):
        """sum_i W[j,i] s[b,i] for every trial b and target j: [batch, n_pre] -> [batch, n_post]."""
        xp, n_batch = self.xp, signal.shape[0]
        if getattr(self, "_flat_batch", None) != n_batch:      # target index of (trial, synapse), once per size
            self._flat = (xp.arange(n_batch)[:, None] * self.n_post + self.post[None, :]).ravel()
            self._flat_batch = n_batch
        contrib = (signal[:, self.pre] * self.weight[None, :]).ravel()
        out = xp.bincount(self._flat, weights=contrib, minlength=n_batch * self.n_post).reshape(n_batch, -1)
        return out.astype(signal.dtype, copy=False)


class DenseSynapses:
    """Every (post, pre) pair of a weight matrix W[post, pre]; per-synapse arrays are [batch, n_post, n_pre]."""

    def __init__(self, xp, matrix, dtype=float):
        self.xp = xp
        self.weight = xp.asarray(matrix, dtype=dtype)
        self.n_post, self.n_pre = self.weight.shape
        self.shape = self.weight.shape

    def at_pre(self, a):
        return a[:, None, :]

    def at_post(self, a):
        return a[:, :, None]

    def batch_dot(self, L, a):
        return self.xp.einsum("bj,bji->ji", L, a)

    def drive(self, signal):
        return signal @ self.weight.T


class EpropNetwork:
    """One e-prop network: input and recurrent synapses (SynapseList or DenseSynapses), a dense readout
    W_out [n_out, n_rec] with biases b_out, and an optional fixed feedback matrix B [n_rec, n_out]
    (None: symmetric feedback B = W_out^T). `dtype` is the floating type of every state array."""

    def __init__(self, xp, params: EpropParameters, w_in, w_rec, w_out, b_out, feedback=None, dtype=float):
        self.xp, self.p, self.dtype = xp, params, dtype
        self.w_in, self.w_rec = w_in, w_rec
        self.w_out = xp.asarray(w_out, dtype=dtype)
        self.b_out = xp.asarray(b_out, dtype=dtype)
        self.feedback = None if feedback is None else xp.asarray(feedback, dtype=dtype)
        self.n_rec, self.n_out = w_rec.n_post, self.w_out.shape[0]

    def _inputs(self, x):
        xp, d = self.xp, int(self.p.input_delay)
        x = xp.asarray(x, dtype=self.dtype)
        if d:
            x = xp.concatenate([xp.zeros_like(x[:, :d]), x[:, :-d]], axis=1)
        return x

    def _neurons(self, v, a, z_prev, ref, current):
        """One step of the recurrent neurons; returns v, a, z, psi, ref."""
        xp, p = self.xp, self.p
        v = self._alpha * v + current - p.v_th * z_prev
        a = self._rho * a + z_prev
        A = p.v_th + p.beta * a
        refractory = ref > 0
        z = (~refractory & (v - A >= 0.0)).astype(self.dtype)
        psi = xp.where(refractory, 0.0, p.gamma / p.v_th * xp.maximum(0.0, 1.0 - xp.abs(v - A) / p.v_th))
        ref = xp.where(z > 0, p.n_ref, xp.maximum(ref - 1, 0))
        return v, a, z, psi.astype(self.dtype, copy=False), ref

    def _constants(self):
        p = self.p
        self._alpha, self._rho = math.exp(-p.dt / p.tau_m), math.exp(-p.dt / p.tau_a)
        self._kappa = math.exp(-p.dt / p.tau_out)

    def forward(self, x, target=None):
        """Run a batch without learning: returns {"y_sum": the readout summed over time [batch, n_out],
        "counts": spike counts of the recurrent neurons [batch, n_rec]} and, with targets [batch], "loss"
        (mean per-step cross-entropy, as gradients() reports it) and "accuracy"."""
        xp = self.xp
        self._constants()
        x = self._inputs(x)
        n_batch, T, _ = x.shape
        n = self.n_rec
        v, a, z_prev = (xp.zeros((n_batch, n), dtype=self.dtype) for _ in range(3))
        ref = xp.zeros((n_batch, n), dtype=xp.int32)
        y = xp.zeros((n_batch, self.n_out), dtype=self.dtype)
        y_sum, counts = xp.zeros_like(y), xp.zeros_like(v)
        if target is not None:
            target = xp.asarray(target, dtype=xp.int64)
            picked = xp.zeros(n_batch, dtype=self.dtype)
        rows = xp.arange(n_batch)
        for t in range(T):
            current = self.w_in.drive(x[:, t]) + self.w_rec.drive(z_prev)
            v, a, z, _, ref = self._neurons(v, a, z_prev, ref, current)
            y = self._kappa * y + (z_prev if self.p.readout_delay else z) @ self.w_out.T + self.b_out
            if target is not None:
                shifted = y - y.max(axis=1, keepdims=True)
                picked += shifted[rows, target] - xp.log(xp.exp(shifted).sum(axis=1))
            y_sum += y
            counts += z
            z_prev = z
        out = {"y_sum": y_sum, "counts": counts}
        if target is not None:
            out["loss"] = -float(picked.sum()) / (n_batch * T)                       # synchronize!
            out["accuracy"] = float((y_sum.argmax(axis=1) == target).mean())        # synchronize!
        return out

    def gradients(self, x, target, record_spikes=True):
        """Run one batch (x [batch, T, n_in] spikes, target [batch] classes); returns per-synapse gradients
        for w_in and w_rec (shaped like their weights), dense ones for w_out and b_out, the spikes
        z [batch, T, n_rec] (when record_spikes), the mean per-step cross-entropy loss, the accuracy of the
        summed readout, the summed readout "y_sum" and the spike counts "counts" [batch, n_rec]."""
        xp, p = self.xp, self.p
        self._constants()
        kappa = self._kappa
        x = self._inputs(x)
        n_batch, T, _ = x.shape
        delayed = bool(p.readout_delay)
        B = self.w_out.T if self.feedback is None else self.feedback
        target = xp.asarray(target, dtype=xp.int64)
        onehot = xp.zeros((n_batch, self.n_out), dtype=self.dtype)
        onehot[xp.arange(n_batch), target] = 1.0
        n = self.n_rec
        v, a, z_prev, psi_prev, zbar = (xp.zeros((n_batch, n), dtype=self.dtype) for _ in range(5))
        ref = xp.zeros((n_batch, n), dtype=xp.int32)
        y = xp.zeros((n_batch, self.n_out), dtype=self.dtype)
        syn = {"in": self._state(self.w_in, n_batch), "rec": self._state(self.w_rec, n_batch)}
        g_out, g_b = xp.zeros_like(self.w_out), xp.zeros_like(self.b_out)
        counts, y_sum = xp.zeros_like(v), xp.zeros_like(y)
        log_p = xp.zeros(n_batch, dtype=self.dtype)
        zs = xp.zeros((n_batch, T, n), dtype=self.dtype) if record_spikes else None
        for t in range(T):
            signals = {"in": x[:, t], "rec": z_prev}
            current = self.w_in.drive(signals["in"]) + self.w_rec.drive(signals["rec"])
            v, a, z, psi, ref = self._neurons(v, a, z_prev, ref, current)
            y = kappa * y + (z_prev if delayed else z) @ self.w_out.T + self.b_out
            shifted = y - y.max(axis=1, keepdims=True)
            prob = xp.exp(shifted)
            total = prob.sum(axis=1, keepdims=True)
            prob /= total
            err = prob - onehot
            L = err @ B.T                                           # [batch, n_rec]
            if not delayed:
                zbar = kappa * zbar + z
            for key, syns in (("in", self.w_in), ("rec", self.w_rec)):
                self._step_synapses(syn[key], syns, signals[key], psi, psi_prev, L, delayed)
            g_out += err.T @ zbar
            g_b += err.sum(axis=0)
            if delayed:
                zbar = kappa * zbar + z
            log_p += (shifted * onehot).sum(axis=1) - xp.log(total[:, 0])
            counts += z
            y_sum += y
            if record_spikes:
                zs[:, t] = z
            z_prev, psi_prev = z, psi
        reg = p.c_reg * (counts / (T * p.dt) - p.f_target)                 # [batch, n_rec]
        grads = {"w_out": g_out, "b_out": g_b, "z": zs, "y_sum": y_sum, "counts": counts}
        for key, syns in (("in", self.w_in), ("rec", self.w_rec)):
            s = syn[key]
            grads["w_" + key] = s["g"] + syns.batch_dot(reg, s["sum_e"]) / T if p.c_reg else s["g"]
        grads["loss"] = -float(log_p.sum()) / (n_batch * T)                # synchronize!
        grads["accuracy"] = float((y_sum.argmax(axis=1) == target).mean())   # synchronize!
        return grads

    def _state(self, syns, n_batch):
        xp, shape = self.xp, (n_batch,) + tuple(syns.shape)
        zeros = lambda: xp.zeros(shape, dtype=self.dtype)  # noqa: E731
        return {"eps_v": xp.zeros((n_batch, syns.n_pre), dtype=self.dtype),   # per source, shared by its synapses
                "eps_a": zeros() if self.p.beta else None,
                "ebar": zeros(), "sum_e": zeros() if self.p.c_reg else None,
                "g": xp.zeros(syns.shape, dtype=self.dtype)}

    def _step_synapses(self, s, syns, signal, psi, psi_prev, L, delayed):
        p, xp = self.p, self.xp
        if delayed:                                   # the readout sees z^{t-1}: L^t pairs with ebar^{t-1}
            s["g"] += syns.batch_dot(L, s["ebar"])
        psi_post = syns.at_post(psi)
        if s["eps_a"] is not None:
            pp = syns.at_post(psi_prev)
            eps_a = s["eps_a"]
            eps_a *= self._rho - pp * p.beta
            eps_a += pp * syns.at_pre(s["eps_v"])
            s["eps_v"] = self._alpha * s["eps_v"] + signal
            e = syns.at_pre(s["eps_v"]) - p.beta * eps_a
            e *= psi_post
        else:
            s["eps_v"] = self._alpha * s["eps_v"] + signal
            e = psi_post * syns.at_pre(s["eps_v"])
        ebar = s["ebar"]
        ebar *= self._kappa
        ebar += e
        if p.c_reg:
            s["sum_e"] += e
        if not delayed:
            s["g"] += syns.batch_dot(L, ebar)
