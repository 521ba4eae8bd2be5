"""An independent float64 reference of e-prop (Bellec et al. 2020, Nat. Commun. 11:3625) for a tiny network,
written step by step with explicit loops, to check the engine's e-prop against.

Network: n_in input spike trains x -> n_rec LIF or ALIF neurons (recurrent) -> n_out leaky readouts.
Discrete time t = 1..T, one step dt; alpha = exp(-dt/tau_m), rho = exp(-dt/tau_a), kappa = exp(-dt/tau_out).

    I_j^t   = sum_i W_in[j,i] x_i^t + sum_i W_rec[j,i] z_i^{t-1}
    v_j^t   = alpha v_j^{t-1} + I_j^t - v_th z_j^{t-1}                 (reset by subtraction)
    a_j^t   = rho a_j^{t-1} + z_j^{t-1}                                 (ALIF; beta = 0 gives LIF)
    A_j^t   = v_th + beta a_j^t
    z_j^t   = H(v_j^t - A_j^t), 0 during n_ref steps after a spike
    psi_j^t = (gamma / v_th) max(0, 1 - |v_j^t - A_j^t| / v_th), 0 while refractory
    y_k^t   = kappa y_k^{t-1} + sum_j W_out[k,j] z_j^t + b_k
    pi^t    = softmax(y^t); loss = -sum_t sum_k pi*_k log pi_k^t

Eligibility of a synapse j <- i whose presynaptic signal is s_i^t (x_i^t, or z_i^{t-1} for recurrent):
    eps_v^t = alpha eps_v^{t-1} + s_i^t
    eps_a^t = psi_j^{t-1} eps_v^{t-1} + (rho - psi_j^{t-1} beta) eps_a^{t-1}
    e^t     = psi_j^t (eps_v^t - beta eps_a^t),   ebar^t = kappa ebar^{t-1} + e^t
Learning signal L_j^t = sum_k B[j,k] (pi_k^t - pi*_k) (B = W_out^T: symmetric e-prop).
    dW_ji = sum_t L_j^t ebar_ji^t + c_reg (f_j - f_target) sum_t e_ji^t / T
with f_j = sum_t z_j^t / (T dt) (per trial, in spikes per ms). Readout: dW_out[k,j] = sum_t (pi_k^t - pi*_k) zbar_j^t
with zbar^t = kappa zbar^{t-1} + z^t; db_k = sum_t (pi_k^t - pi*_k). A batch sums the per-trial gradients.

With readout_delay=1 the readout sees z^{t-1} (y^t = kappa y^{t-1} + W_out z^{t-1} + b). The gradients are then
computed here the other way round, from the stored per-step eligibilities and errors after the trial:
    dE/dz_j^s = sum_{t>s} kappa^{t-1-s} sum_k B[j,k] err_k^t,   dW_ji = sum_s dE/dz_j^s e_ji^s (+ regulariser)
    dW_out[k,j] = sum_t err_k^t sum_{s<t} kappa^{t-1-s} z_j^s
With input_delay=1 the input spike x^t reaches the recurrent neurons at step t+1.
"""

from __future__ import annotations

import math

import numpy as np


def eprop_gradients(x, target, w_in, w_rec, w_out, b_out, *, dt=1.0, tau_m=20.0, tau_a=2000.0, beta=0.0,
                    v_th=0.6, n_ref=0, tau_out=20.0, gamma=0.3, c_reg=0.0, f_target=0.01, feedback=None,
                    input_delay=0, readout_delay=0):
    """Gradients of one batch: x [batch, T, n_in] (0/1), target [batch] class indices. Returns a dict with
    w_in, w_rec, w_out, b_out gradients and the traces (z, v) for inspection."""
    x = np.asarray(x, float)
    n_batch, T, n_in = x.shape
    if input_delay:
        x = np.concatenate([np.zeros((n_batch, input_delay, n_in)), x[:, :T - input_delay]], axis=1)
    n_rec, n_out = w_rec.shape[0], w_out.shape[0]
    alpha, rho, kappa = math.exp(-dt / tau_m), math.exp(-dt / tau_a), math.exp(-dt / tau_out)
    B = w_out.T if feedback is None else feedback
    g = {"w_in": np.zeros_like(w_in, float), "w_rec": np.zeros_like(w_rec, float),
         "w_out": np.zeros_like(w_out, float), "b_out": np.zeros_like(b_out, float)}
    zs = np.zeros((n_batch, T, n_rec))
    vs = np.zeros((n_batch, T, n_rec))
    for b in range(n_batch):
        v = np.zeros(n_rec)
        a = np.zeros(n_rec)
        z_prev = np.zeros(n_rec)
        ref = np.zeros(n_rec, int)
        y = np.zeros(n_out)
        psi_prev = np.zeros(n_rec)
        ev_in = np.zeros((n_rec, n_in)); ea_in = np.zeros((n_rec, n_in)); ebar_in = np.zeros((n_rec, n_in))
        ev_rec = np.zeros((n_rec, n_rec)); ea_rec = np.zeros((n_rec, n_rec)); ebar_rec = np.zeros((n_rec, n_rec))
        zbar = np.zeros(n_rec)
        g_in = np.zeros_like(g["w_in"]); g_rec = np.zeros_like(g["w_rec"])
        sum_e_in = np.zeros_like(g_in); sum_e_rec = np.zeros_like(g_rec)
        n_spikes = np.zeros(n_rec)
        onehot = np.zeros(n_out)
        onehot[int(target[b])] = 1.0
        e_hist_in, e_hist_rec, err_hist, z_hist = [], [], [], []
        for t in range(T):
            s_in = x[b, t]
            s_rec = z_prev
            current = np.zeros(n_rec)
            for j in range(n_rec):
                for i in range(n_in):
                    current[j] += w_in[j, i] * s_in[i]
                for i in range(n_rec):
                    current[j] += w_rec[j, i] * s_rec[i]
            v = alpha * v + current - v_th * z_prev
            a = rho * a + z_prev
            A = v_th + beta * a
            refractory = ref > 0
            z = np.where(~refractory & (v - A >= 0.0), 1.0, 0.0)
            psi = np.where(refractory, 0.0, gamma / v_th * np.maximum(0.0, 1.0 - np.abs(v - A) / v_th))
            ref = np.where(z > 0, n_ref, np.maximum(ref - 1, 0))
            # eligibility vectors and traces (eps_a uses psi and eps_v of the previous step)
            e_now_in = np.zeros((n_rec, n_in)); e_now_rec = np.zeros((n_rec, n_rec))
            for j in range(n_rec):
                for i in range(n_in):
                    ea_in[j, i] = psi_prev[j] * ev_in[j, i] + (rho - psi_prev[j] * beta) * ea_in[j, i]
                    ev_in[j, i] = alpha * ev_in[j, i] + s_in[i]
                    e = psi[j] * (ev_in[j, i] - beta * ea_in[j, i])
                    e_now_in[j, i] = e
                    ebar_in[j, i] = kappa * ebar_in[j, i] + e
                    sum_e_in[j, i] += e
                for i in range(n_rec):
                    ea_rec[j, i] = psi_prev[j] * ev_rec[j, i] + (rho - psi_prev[j] * beta) * ea_rec[j, i]
                    ev_rec[j, i] = alpha * ev_rec[j, i] + s_rec[i]
                    e = psi[j] * (ev_rec[j, i] - beta * ea_rec[j, i])
                    e_now_rec[j, i] = e
                    ebar_rec[j, i] = kappa * ebar_rec[j, i] + e
                    sum_e_rec[j, i] += e
            y = kappa * y + w_out @ (z_prev if readout_delay else z) + b_out
            p = np.exp(y - y.max())
            p /= p.sum()
            err = p - onehot
            L = B @ err
            if not readout_delay:
                g_in += L[:, None] * ebar_in
                g_rec += L[:, None] * ebar_rec
                zbar = kappa * zbar + z
                g["w_out"] += np.outer(err, zbar)
            e_hist_in.append(e_now_in); e_hist_rec.append(e_now_rec); err_hist.append(err); z_hist.append(z)
            g["b_out"] += err
            n_spikes += z
            zs[b, t], vs[b, t] = z, v
            z_prev, psi_prev = z, psi
        if readout_delay:                     # backward: dE/dz^s from the errors of the later steps
            for s_ in range(T):
                dEdz = sum(kappa ** (t - 1 - s_) * (B @ err_hist[t]) for t in range(s_ + 1, T))
                if s_ + 1 < T:
                    g_in += dEdz[:, None] * e_hist_in[s_]
                    g_rec += dEdz[:, None] * e_hist_rec[s_]
            for t in range(T):
                zfilt = sum(kappa ** (t - 1 - s_) * z_hist[s_] for s_ in range(t)) if t else np.zeros(n_rec)
                g["w_out"] += np.outer(err_hist[t], zfilt)
        rate = n_spikes / (T * dt)
        reg = c_reg * (rate - f_target)
        g["w_in"] += g_in + reg[:, None] * sum_e_in / T
        g["w_rec"] += g_rec + reg[:, None] * sum_e_rec / T
    g["z"], g["v"] = zs, vs
    return g
