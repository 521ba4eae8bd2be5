"""Compiled current sources (DC, step, AC, noise): one kernel per step adds every electrode's current for the
next step into its targets' i_stim (kernels/psg_electrodes.cu), as the reference's Electrode.inject does.

Electrodes whose current is recorded (`recording`: the amplitude is logged on the host at every step) run on the
reference path, and with them every electrode of the network (so that the currents are still added in the
reference's order).
"""

from __future__ import annotations

import numpy as np

from .. import electrodes as ee
from .program import Args
from .runner import Kernel, Unsupported

_KIND = {ee.DC: 0, ee.Step: 1, ee.AC: 2, ee.Noise: 3}


def _last_occurrence(index):
    """Each target cell once, with the position of its last occurrence in `index` (NumPy's a[index] += v adds
    the value of the last occurrence of a repeated cell, once)."""
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    if index.shape[0] == 0:
        return index, index.copy()
    _, first_from_end = np.unique(index[::-1], return_index=True)
    positions = np.sort(index.shape[0] - 1 - first_from_end)
    return np.ascontiguousarray(index[positions]), positions.astype(np.int64)


def _float64(values, xp=np):
    return xp.ascontiguousarray(xp.asarray(np.asarray(values, dtype=np.float64).reshape(-1)))


def _row(electrode, kind, group, cells, positions, dt, xp=np):
    n = cells.shape[0]
    p = lambda name, default=0.0: lambda: float(electrode.params.get(name, default))  # noqa: E731
    row = Args().int(kind).ptr(lambda: group.i_stim).ptr(xp.asarray(cells)).ptr(xp.asarray(positions)).int(n)
    if kind == 1:
        row.real(0.0).real(0.0).real(0.0).real(0.0).real(0.0).real(0.0)
        row.ptr(lambda: _float64(electrode.params["times"], xp))
        row.ptr(lambda: _float64(electrode.params["amplitudes"], xp))
        row.int(lambda: _float64(electrode.params["times"]).shape[0])
    else:
        first, second = {0: ("amplitude", None), 2: ("amplitude", "offset"), 3: ("mean", "stdev")}[kind]
        row.real(p("start")).real(p("stop", np.inf)).real(p(first)).real(p(second) if second else 0.0)
        row.real(p("frequency") if kind == 2 else 0.0).real(p("phase") if kind == 2 else 0.0)
        row.ptr(None).ptr(None).int(0)
    if kind == 3:
        row.int(lambda: electrode.key).int(lambda: ee.first_step(electrode.params["start"], dt))
        row.int(lambda: ee.draw_period(electrode.params.get("dt", dt), dt))
        row.ptr(xp.zeros(n, dtype=np.float64)).ptr(xp.full(n, -1, dtype=np.int64))
    else:
        row.int(0).int(0).int(1).ptr(None).ptr(None)
    return row


def electrode_kernels(engine):
    """Kernels that inject the network's current sources (raises Unsupported when there are none)."""
    net = engine.net
    rows, stimulated = [], {}
    for electrode in net.electrodes:
        kind = _KIND.get(type(electrode))
        if kind is None:
            raise Unsupported(f"{type(electrode).__name__} has no compiled kernel")
        if electrode.recording:
            raise Unsupported("a recorded current source logs its amplitude on the host at every step")
        offset = 0
        for group, index in electrode.targets:
            cells, positions = _last_occurrence(engine.backend.to_host(index))
            keep, cells = group.local_positions(cells)       # the cells of this process (noise is keyed by
            if keep is not None:                             # positions in the whole target list)
                positions = positions[keep]
            rows.append(_row(electrode, kind, group, cells, positions + offset, net.dt, engine.xp))
            offset += len(index)
            stimulated[id(group)] = group
    kernels = []
    reference_groups = [g for g in stimulated.values() if engine.group_kernel(g) is None]
    if reference_groups:          # their step does not clear i_stim: clear it before the electrodes add
        clear = Args().int(len(reference_groups)).table(
            [Args().ptr(lambda g=g: g.i_stim).int(g.n) for g in reference_groups])
        kernels.append(Kernel(engine.function(f"pynn_sparsegpu_electrodes_clear_{engine.real}"), clear,
                              "current sources: clear i_stim of populations on the reference path"))
    args = Args().ptr(engine.clock).real(net.dt).int(len(rows)).table(rows)
    kernels.append(Kernel(engine.function(f"pynn_sparsegpu_electrodes_{engine.real}"), args, "current sources"))
    return kernels
