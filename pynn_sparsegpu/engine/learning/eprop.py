"""e-prop (Bellec et al. 2020) for a recurrent spiking network, with trials batched on the first axis.

input x (n_in) -> recurrent LIF/ALIF z (n_rec) -> leaky readouts y (n_out); one step dt, t = 1..T:

    I_j^t   = sum_i W_in[j,i] x_i^t + sum_i W_rec[j,i] z_i^{t-1}
    v_j^t   = alpha v_j^{t-1} + I_j^t - v_th z_j^{t-1}              reset by subtraction
    a_j^t   = rho a_j^{t-1} + z_j^{t-1};  A_j^t = v_th + beta a_j^t  (beta = 0: LIF)
    z_j^t   = H(v_j^t - A_j^t), none during n_ref steps after a spike
    psi_j^t = (gamma / v_th) max(0, 1 - |v_j^t - A_j^t| / v_th), 0 while refractory
    y_k^t   = kappa y_k^{t-1} + sum_j W_out[k,j] z_j^t + b_k;  pi^t = softmax(y^t)

Per synapse j <- i with presynaptic signal s_i^t (x_i^t or z_i^{t-1}):
    eps_v^t = alpha eps_v^{t-1} + s_i^t        (one trace per source: the same for all its synapses)
    eps_a^t = psi_j^{t-1} eps_v^{t-1} + (rho - psi_j^{t-1} beta) eps_a^{t-1}    (ALIF only)
    e^t     = psi_j^t (eps_v^t - beta eps_a^t);   ebar^t = kappa ebar^{t-1} + e^t
    dW_ji  += L_j^t ebar^t,  L^t = B (pi^t - onehot(target)),  B = W_out^T (symmetric) or fixed
    firing-rate regularisation: dW_ji += c_reg (f_j - f_target) sum_t e^t / T, f_j = sum_t z_j^t / (T dt)
Readout: dW_out += (pi^t - onehot) zbar^t (zbar^t = kappa zbar^{t-1} + z^t), db += pi^t - onehot.
Gradients are summed over the trials of a batch.

Connectivity is a SynapseList (flat pre, post, weight over the synapses in use, taken from ragged rows, so
work follows the number of synapses, never the row capacity); per-synapse state has shape [batch, n_syn].
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


class SynapseList:
    """Synapses in use as flat device arrays: pre, post (int64) and weight, in row order of their rows."""

    def __init__(self, xp, pre, post, weight, n_pre, n_post):
        self.xp, self.n_pre, self.n_post = xp, int(n_pre), int(n_post)
        self.pre = xp.asarray(pre, dtype=xp.int64)
        self.post = xp.asarray(post, dtype=xp.int64)
        self.weight = xp.asarray(weight, dtype=float)

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
        return cls(xp, r, rows.ind[r, c].astype(xp.int64), rows.vars[weight_var][r, c], rows.n_pre, rows.n_post)

    def drive(self, signal):
        """sum_i W[j,i] s[b,i] for every trial b and target j: [batch, n_pre] -> [batch, n_post]."""
        xp, n_batch = self.xp, signal.shape[0]
        if getattr(self, "_flat_batch", None) != n_batch:      # target index of (trial, synapse), once per size
            self._flat = (xp.arange(n_batch)[:, None] * self.n_post + self.post[None, :]).ravel()
            self._flat_batch = n_batch
        contrib = (signal[:, self.pre] * self.weight[None, :]).ravel()
        return xp.bincount(self._flat, weights=contrib, minlength=n_batch * self.n_post).reshape(n_batch, -1)


class EpropNetwork:
    def __init__(self, xp, params: EpropParameters, w_in: SynapseList, w_rec: SynapseList, w_out, b_out,
                 feedback=None):
        self.xp, self.p = xp, params
        self.w_in, self.w_rec = w_in, w_rec
        self.w_out = xp.asarray(w_out, dtype=float)
        self.b_out = xp.asarray(b_out, dtype=float)
        self.feedback = None if feedback is None else xp.asarray(feedback, dtype=float)
        self.n_rec, self.n_out = w_rec.n_post, self.w_out.shape[0]

    def gradients(self, x, target):
        """Run one batch (x [batch, T, n_in] spikes, target [batch] classes); returns per-synapse gradients
        for w_in and w_rec, dense ones for w_out and b_out, the spikes z [batch, T, n_rec] and the mean
        per-step cross-entropy loss and the accuracy of the summed readout."""
        xp, p = self.xp, self.p
        x = xp.asarray(x, dtype=float)
        n_batch, T, _ = x.shape
        alpha, rho, kappa = math.exp(-p.dt / p.tau_m), math.exp(-p.dt / p.tau_a), math.exp(-p.dt / p.tau_out)
        B = self.w_out.T if self.feedback is None else self.feedback
        onehot = xp.zeros((n_batch, self.n_out))
        onehot[xp.arange(n_batch), xp.asarray(target, dtype=xp.int64)] = 1.0
        n = self.n_rec
        v, a, z_prev = xp.zeros((n_batch, n)), xp.zeros((n_batch, n)), xp.zeros((n_batch, n))
        ref = xp.zeros((n_batch, n), dtype=xp.int64)
        psi_prev = xp.zeros((n_batch, n))
        y = xp.zeros((n_batch, self.n_out))
        zbar = xp.zeros((n_batch, n))
        syn = {"in": self._state(self.w_in, n_batch), "rec": self._state(self.w_rec, n_batch)}
        g_out, g_b = xp.zeros_like(self.w_out), xp.zeros_like(self.b_out)
        n_spikes = xp.zeros((n_batch, n))
        y_sum = xp.zeros((n_batch, self.n_out))
        loss = 0.0
        zs = xp.zeros((n_batch, T, n))
        for t in range(T):
            signals = {"in": x[:, t], "rec": z_prev}
            current = self.w_in.drive(signals["in"]) + self.w_rec.drive(signals["rec"])
            v = alpha * v + current - p.v_th * z_prev
            a = rho * a + z_prev
            A = p.v_th + p.beta * a
            refractory = ref > 0
            z = xp.where(~refractory & (v - A >= 0.0), 1.0, 0.0)
            psi = xp.where(refractory, 0.0, p.gamma / p.v_th * xp.maximum(0.0, 1.0 - xp.abs(v - A) / p.v_th))
            ref = xp.where(z > 0, p.n_ref, xp.maximum(ref - 1, 0))
            y = kappa * y + z @ self.w_out.T + self.b_out
            prob = xp.exp(y - y.max(axis=1, keepdims=True))
            prob /= prob.sum(axis=1, keepdims=True)
            err = prob - onehot
            L = err @ B.T                                           # [batch, n_rec]
            for key, syns in (("in", self.w_in), ("rec", self.w_rec)):
                self._step_synapses(syn[key], syns, signals[key], psi, psi_prev, L, alpha, rho, kappa)
            zbar = kappa * zbar + z
            g_out += err.T @ zbar
            g_b += err.sum(axis=0)
            loss -= float(xp.log(xp.maximum((prob * onehot).sum(axis=1), 1e-300)).sum())   # synchronize!
            n_spikes += z
            y_sum += y
            zs[:, t] = z
            z_prev, psi_prev = z, psi
        reg = p.c_reg * (n_spikes / (T * p.dt) - p.f_target)                # [batch, n_rec]
        grads = {"w_out": g_out, "b_out": g_b, "z": zs}
        for key, syns in (("in", self.w_in), ("rec", self.w_rec)):
            s = syn[key]
            grads["w_" + key] = s["g"] + (reg[:, syns.post] * s["sum_e"]).sum(axis=0) / T
        grads["loss"] = loss / (n_batch * T)
        grads["accuracy"] = float((y_sum.argmax(axis=1) == xp.asarray(target)).mean())
        return grads

    def _state(self, syns, n_batch):
        xp, m = self.xp, syns.pre.shape[0]
        return {"eps_v": xp.zeros((n_batch, syns.n_pre)),          # per source, shared by its synapses
                "eps_a": xp.zeros((n_batch, m)) if self.p.beta else None,
                "ebar": xp.zeros((n_batch, m)), "sum_e": xp.zeros((n_batch, m)), "g": xp.zeros(m)}

    def _step_synapses(self, s, syns, signal, psi, psi_prev, L, alpha, rho, kappa):
        p = self.p
        pre, post = syns.pre, syns.post
        eps_v_prev = s["eps_v"][:, pre]
        s["eps_v"] = alpha * s["eps_v"] + signal
        eps_v = s["eps_v"][:, pre]
        psi_post = psi[:, post]
        if s["eps_a"] is not None:
            pp = psi_prev[:, post]
            s["eps_a"] = pp * eps_v_prev + (rho - pp * p.beta) * s["eps_a"]
            e = psi_post * (eps_v - p.beta * s["eps_a"])
        else:
            e = psi_post * eps_v
        s["ebar"] = kappa * s["ebar"] + e
        s["sum_e"] += e
        s["g"] += (L[:, post] * s["ebar"]).sum(axis=0)
