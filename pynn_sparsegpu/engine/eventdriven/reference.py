"""The event loop in pure Python (heapq): the test oracle of the compiled loop (kernels/psg_eventdriven.cpp).

Same algorithm, same event order and the same floating-point operations in the same order, so the two agree
bit for bit; only the data structures differ (the cells' heap uses lazy deletion instead of an indexed heap,
which gives the same (time, index) order). Slow: for small networks and tests.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

INF = math.inf


def next_spike_time(t_free, v_free, t_spike, tau, v_inf, v_th):
    if v_free >= v_th:
        t = t_free
    elif v_inf > v_th:
        t = t_free + tau * math.log((v_inf - v_free) / (v_inf - v_th))
    else:
        return INF
    if not t > t_spike:
        t = math.nextafter(t_spike, INF)          # never twice at one time
    return t


def voltage_at(t, t_free, v_free, tau, v_inf, v_reset):
    if t < t_free:
        return v_reset
    return v_free + (v_free - v_inf) * math.expm1(-(t - t_free) / tau)


def run_reference(net, until, last_sample, samples):
    """Advance `net` to `until`; returns the new spikes (ids, times) in processing order; fills `samples`."""
    tau = net.tau_m.tolist()
    v_inf = net.v_inf.tolist()
    v_th = net.v_thresh.tolist()
    v_reset = net.v_reset.tolist()
    t_ref = net.tau_refrac.tolist()
    t_free = net.t_free.tolist()
    v_free = net.v_free.tolist()
    t_spike = net.t_spike.tolist()
    row_seg = net.row_seg.tolist()
    seg_ptr = net.seg_ptr.tolist()
    seg_delay = net.seg_delay.tolist()
    post = net.syn_post.tolist()
    w = net.syn_w.tolist()
    src_time = net.src_time.tolist()
    src_id = net.src_id.tolist()
    rec = net.rec_idx.tolist()
    interval = net.interval or 1.0
    c = net.counters
    cursor, seq, sample = int(c[0]), int(c[1]), int(c[2])
    n_samples = 0
    dq = net.ref_queue                     # (time, seq, segment), persists between runs

    next_t = [next_spike_time(t_free[j], v_free[j], t_spike[j], tau[j], v_inf[j], v_th[j])
              for j in range(net.n_cells)]
    cells = [(next_t[j], j) for j in range(net.n_cells) if next_t[j] < INF]
    heapq.heapify(cells)
    out_id, out_t = [], []

    def cells_top():
        while cells and cells[0][0] != next_t[cells[0][1]]:
            heapq.heappop(cells)           # stale entry
        return cells[0][0] if cells else INF

    def set_next(j):
        next_t[j] = next_spike_time(t_free[j], v_free[j], t_spike[j], tau[j], v_inf[j], v_th[j])
        if next_t[j] < INF:
            heapq.heappush(cells, (next_t[j], j))

    def emit(i, t):
        nonlocal seq
        out_id.append(i)
        out_t.append(t)
        for s in range(row_seg[i], row_seg[i + 1]):
            heapq.heappush(dq, (t + seg_delay[s], seq, s))
            seq += 1

    def fire(j, t):
        t_spike[j] = t
        t_free[j] = t + t_ref[j]
        v_free[j] = v_reset[j]
        emit(j, t)
        set_next(j)

    def write_sample(ts):
        nonlocal n_samples
        samples[n_samples] = [voltage_at(ts, t_free[j], v_free[j], tau[j], v_inf[j], v_reset[j]) for j in rec]
        n_samples += 1

    while True:
        ts = cells_top()
        tsrc = src_time[cursor] if cursor < len(src_time) else INF
        tq = dq[0][0] if dq else INF
        t = min(ts, tsrc, tq)
        if not t <= until:
            break
        while sample <= last_sample and float(sample) * interval < t:
            write_sample(float(sample) * interval)
            sample += 1
        if ts <= tsrc and ts <= tq:
            j = cells[0][1]
            heapq.heappop(cells)
            next_t[j] = INF
            fire(j, ts)
        elif tsrc <= tq:
            s = src_id[cursor]
            cursor += 1
            emit(s, tsrc)
        else:
            # every arrival at tq: first all weights are added, then each cell touched is tested once
            touched = {}                   # insertion-ordered
            while dq and dq[0][0] == tq:
                seg = heapq.heappop(dq)[2]
                for k in range(seg_ptr[seg], seg_ptr[seg + 1]):
                    j = post[k]
                    if tq >= t_free[j] and tq > t_spike[j]:     # else refractory: discarded
                        if t_free[j] != tq:
                            v_free[j] = voltage_at(tq, t_free[j], v_free[j], tau[j], v_inf[j], v_reset[j])
                            t_free[j] = tq
                        v_free[j] += w[k]
                        touched[j] = None
            for j in touched:
                if v_free[j] >= v_th[j]:
                    fire(j, tq)
                else:
                    set_next(j)
    while sample <= last_sample:
        write_sample(float(sample) * interval)
        sample += 1

    net.t_free[:] = t_free
    net.v_free[:] = v_free
    net.t_spike[:] = t_spike
    c[0], c[1], c[2], c[3] = cursor, seq, sample, n_samples
    return np.asarray(out_id, dtype=np.int64), np.asarray(out_t, dtype=np.float64)
