"""Whole-network checkpoints: the complete state of a Network written to one .npz file, and loaded back.

A checkpoint holds what the next step depends on, and what was recorded:

  * the clock (steps done) and the network's run flags;
  * every population's state variables, initial values, parameters, input ring buffer (the inputs on their
    way), injected current, post-spike history (STDP) and last-spike stamps (rewiring rules);
  * every projection's rows as they are laid out (the order of the synapses in a row is kept: sums are then
    made in the same order, and results are identical), with every per-synapse variable (weights, delays,
    plastic traces, short-term state, clocks), events on their way along an axon, its failed-addition count;
  * structural plasticity: the rewiring stream's batch counter, the fractional attempt carried over, the
    totals, and the rewiring recorder (samples, events, segments);
  * current sources: parameters and recorded current;
  * record buffers: every spike and sample recorded so far;
  * the state of every NumPy random generator (the counter-based streams need only their keys, which come from
    the seed, and the step);
  * a network on a precise-spike-time engine (event-driven or off-grid): the engine's cells, the events and
    inputs on their way with their exact times, the sources' cursors and Poisson draws, and the driver's
    bookkeeping (members "x/..."; EventEngine.checkpoint_state). At a restore the engine is built again for
    the restored network and takes that state (EventEngine.load_checkpoint);
  * (added by the PyNN face, pynn_sparsegpu/checkpoint.py: each EpropTrainer's state, members "trainer<k>/...").

The file is an uncompressed NumPy .npz archive (a zip of .npy arrays) read with allow_pickle=False, so loading
a checkpoint never runs code. The archive member `__meta__` is a JSON string:

    {"format": "pynn_sparsegpu network checkpoint", "version": 1, "layout": {...}, "state": {...}}

`layout` describes the network (time step, precision, populations, projections, current sources, recorders)
and is compared with the network a checkpoint is loaded into: any difference is refused with a message naming
it. `state` holds the scalars (counters, random-generator states); every array is a member named by its place
("g0/state/v", "p1/rows/weight", ...). Arrays are stored in the precision they had; loading converts them to
the precision of the network (a float32 checkpoint continues a float64 network from the rounded values).

Several MPI processes write one archive (write_distributed): process k's arrays are the members "r<k>/...",
and __meta__ is {"format", "version", "processes": P, "ranks": [each process's meta]}; read(path, rank,
processes) gives a process its own part.

Writes are atomic: the archive is written to a temporary file next to the target, flushed to disk and renamed
over it, so an interrupted write leaves the previous checkpoint (or none), never a partial one. Reading loads
and checks the whole archive before anything in the network changes.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from .connectivity import RaggedRows, index_dtype

FORMAT = "pynn_sparsegpu network checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be written or loaded: unreadable, of another format or version, or written from
    a network that differs from the one it is loaded into. Nothing has changed when it is raised."""


# --- what a network looks like -----------------------------------------------------------------------------
def _model_name(part) -> str:
    """The name the user gave the cell or synapse type (the engine model's without the PyNN face)."""
    model = part.model
    name = getattr(part, "display_name", None) or type(model).__name__
    if hasattr(model, "timing") and hasattr(model, "weight_rule"):        # STDP: the rule matters
        name += f"({model.timing}, {model.weight_rule})"
    return name


def _group_label(i, g) -> str:
    return f"population {i}" + (f" ({g.label!r})" if g.label else "")


def _projection_label(i, p) -> str:
    return f"projection {i}" + (f" ({p.label!r})" if p.label else "")


def layout(net) -> dict:
    """A description of the network's structure: what a checkpoint must agree with to be loaded."""
    groups = [{"model": _model_name(g), "n": int(g.n_total), "label": g.label,
               "history": None if g.history is None else int(g.history.depth),
               "last_spike": g.last_spike is not None} for g in net.groups]
    projections = []
    for p in net.projections:
        n_pre = int(getattr(p.pre, "n_total", p.pre.n))
        projections.append({"label": p.label, "pre": int(p.pre.gid), "post": int(p.post.gid),
                            "model": _model_name(p), "receptor": int(p.receptor),
                            "shape": [n_pre, int(p.post.n_total)],
                            "rewiring": p.rewirer is not None,
                            "rewiring_recorder": p.rewirer is not None and p.rewirer.recorder is not None})
    electrodes = [{"kind": e.kind, "targets": [[int(g.gid), int(len(index))] for g, index in e.targets]}
                  for e in net.electrodes]
    spikes = {str(gid): [int(b.n) for b in bufs] for gid, bufs in net.spike_buffers.items() if bufs}
    signals = {str(gid): [[v, int(len(b._host_index)), int(b.interval)] for v, b in bufs]
               for gid, bufs in net.state_buffers.items() if bufs}
    return {"dt": net.dt, "precision": np.dtype(net.backend.dtype).name, "processes": int(net.comm.size),
            "populations": groups, "projections": projections, "current_sources": electrodes,
            "spike_recorders": spikes, "signal_recorders": signals}


def _describe_group(d) -> str:
    return f"{d['n']} {d['model']} cells" + (f" labelled {d['label']!r}" if d["label"] else "")


def differences(saved: dict, here: dict) -> list[str]:
    """What differs between the layout of a checkpoint and that of a network, in words (empty: they agree)."""
    out = []
    if abs(saved["dt"] - here["dt"]) > 1e-12 * max(abs(here["dt"]), 1.0):
        out.append(f"the time step: the checkpoint's is {saved['dt']} ms, this network's {here['dt']} ms")
    if saved["processes"] != here["processes"]:
        out.append(f"the number of MPI processes: {saved['processes']} in the checkpoint, {here['processes']} here")
    a, b = saved["populations"], here["populations"]
    if len(a) != len(b):
        out.append(f"the number of populations: {len(a)} in the checkpoint, {len(b)} in this network")
    for i, (x, y) in enumerate(zip(a, b)):
        if (x["model"], x["n"], x["label"]) != (y["model"], y["n"], y["label"]):
            out.append(f"population {i}: the checkpoint has {_describe_group(x)}, this network "
                       f"{_describe_group(y)}")
        elif x["history"] != y["history"] or x["last_spike"] != y["last_spike"]:
            out.append(f"population {i}: the plasticity that reads its spikes differs (STDP history depth "
                       f"{x['history']} vs {y['history']}, rewiring {x['last_spike']} vs {y['last_spike']})")
    a, b = saved["projections"], here["projections"]
    if len(a) != len(b):
        out.append(f"the number of projections (engine parts): {len(a)} in the checkpoint, {len(b)} in this "
                   "network")
    for i, (x, y) in enumerate(zip(a, b)):
        for key, what in (("pre", "source population"), ("post", "target population"), ("shape", "size"),
                          ("model", "synapse type"), ("receptor", "receptor"), ("label", "label"),
                          ("rewiring", "structural plasticity"), ("rewiring_recorder", "recording of rewiring")):
            if x[key] != y[key]:
                out.append(f"projection {i}" + (f" ({y['label']!r})" if y["label"] else "") +
                           f": the {what} differs: {x[key]!r} in the checkpoint, {y[key]!r} here")
    a, b = saved["current_sources"], here["current_sources"]
    if len(a) != len(b):
        out.append(f"the number of current sources: {len(a)} in the checkpoint, {len(b)} in this network")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            out.append(f"current source {i}: {x['kind']} into {x['targets']} (population, cells) in the checkpoint, "
                       f"{y['kind']} into {y['targets']} here")
    for key, what in (("spike_recorders", "spike recordings"), ("signal_recorders", "recorded state variables")):
        if saved[key] != here[key]:
            out.append(f"the {what} differ: {saved[key]} (population: cells recorded per recording) in the "
                       f"checkpoint, {here[key]} here (call record() as the script that wrote it did)")
    return out


# --- collecting --------------------------------------------------------------------------------------------
def _rng_state(rng):
    """The JSON state of a NumPy generator (None for others: CuPy's generators have none to read)."""
    bit_generator = getattr(rng, "bit_generator", None)
    if isinstance(rng, np.random.Generator) and bit_generator is not None:
        return bit_generator.state
    return None


def _set_rng_state(rng, state) -> None:
    if state is not None and isinstance(rng, np.random.Generator):
        rng.bit_generator.state = state


def refusal(net) -> str | None:
    """Why the network's state cannot be checkpointed now (None: it can)."""
    if net.event_engine is not None:
        return net.event_engine.checkpoint_refusal()
    return None


def collect(net) -> tuple[dict, dict]:
    """(state scalars, arrays) of the whole network, as host arrays."""
    host = net.backend.to_host
    arrays, state = {}, {"step_index": int(net.step_index), "primed": bool(net._primed),
                         "engine_decided": bool(net._engine_decided), "groups": [], "projections": [],
                         "current_sources": [], "spike_precision": net.spike_precision,
                         "engine_choice": net.engine_choice}
    if net.event_engine is not None:      # first: it takes in the changes made since the last run
        state["precise"], engine_arrays = net.event_engine.checkpoint_state()
        arrays.update({"x/" + name: values for name, values in engine_arrays.items()})
    for i, g in enumerate(net.groups):
        pre = f"g{i}/"
        for name, arr in g.state.items():
            arrays[pre + "state/" + name] = host(arr)
        for name, arr in g.initial.items():
            arrays[pre + "initial/" + name] = host(arr)
        for name, value in g.params.items():
            if isinstance(value, list):               # one sequence per cell (spike_times, ...)
                arrays[pre + "ragged/" + name + "/lengths"] = np.array([len(v) for v in value], dtype=np.int64)
                arrays[pre + "ragged/" + name + "/values"] = (np.concatenate([np.asarray(v, float) for v in value])
                                                            if value else np.zeros(0))
            else:
                arrays[pre + "params/" + name] = host(value)
        arrays[pre + "ring"] = host(g.ring)
        arrays[pre + "i_stim"] = host(g.i_stim)
        entry = {"rng": _rng_state(g.rng)}
        if g.history is not None:
            arrays[pre + "history/stamps"] = host(g.history.stamps)
            arrays[pre + "history/count"] = host(g.history.count)
            entry["history"] = {"depth": g.history.depth, "extra": g.history.extra, "overflow": g.history.overflow}
        if g.last_spike is not None:
            arrays[pre + "last_spike"] = host(g.last_spike)
        state["groups"].append(entry)
    for i, p in enumerate(net.projections):
        pre = f"p{i}/"
        if p._pending or p.rows is None:          # synapses not yet built into rows (no run yet): build them
            p.prepare(net.dt)
        rows = p.rows
        lengths = host(rows.row_length)
        arrays[pre + "rows/row_length"] = lengths
        r, c = rows.synapse_slots()                 # every synapse in use, row by row, in slot order
        arrays[pre + "rows/ind"] = host(rows.ind[r, c])
        shared = []
        for name in rows.vars.keys():
            value = rows.uniform(name)              # one value for every synapse (a parameter given once)
            if value is not None:
                arrays[pre + "rows/vars/" + name] = np.asarray(value)
                shared.append(name)
            else:
                arrays[pre + "rows/vars/" + name] = host(rows.vars.peek(name)[r, c])
        entry = {"capacity": int(rows.capacity), "failed_additions": int(rows.failed_additions),
                 "vars": list(rows.vars.keys()), "shared": shared, "elapsed": int(getattr(p, "_elapsed", 0)),
                 "rng": _rng_state(getattr(p, "rng", None))}
        queue = getattr(p, "_queue", None)
        entry["queue"] = queue is not None
        if queue is not None:
            for k, q in enumerate(queue):
                arrays[f"{pre}queue/{k}"] = host(q)
        r = p.rewirer
        if r is not None:
            entry["rewirer"] = {"batches": int(r.batches), "due": float(r._due), "totals": dict(r.totals),
                                "rng": _rng_state(r.rng)}
            if r.recorder is not None:
                entry["rewirer"]["recorder"] = _collect_recorder(r.recorder, pre + "rec/", arrays)
        state["projections"].append(entry)
    for i, e in enumerate(net.electrodes):
        pre = f"e{i}/"
        for name, value in e.params.items():
            arrays[pre + "params/" + name] = np.asarray(value)
        arrays[pre + "trace_t"] = np.asarray(e.trace_t, dtype=np.float64)
        arrays[pre + "trace_i"] = np.asarray(e.trace_i, dtype=np.float64)
        state["current_sources"].append({"params": list(e.params),
                                         "arrays": [k for k, v in e.params.items() if isinstance(v, np.ndarray)],
                                         "recording": bool(e.recording),
                                         "rng": _rng_state(e.rng)})
    for gid, bufs in net.spike_buffers.items():
        for j, buf in enumerate(bufs):
            steps, channels, exact = buf._sorted()
            arrays[f"s{gid}.{j}/steps"] = steps
            arrays[f"s{gid}.{j}/channels"] = channels.astype(np.int32 if buf.n < 2 ** 31 else np.int64)
            # exact times (the event-driven engine's) where there are any; else one NaN for all
            arrays[f"s{gid}.{j}/exact"] = exact if not np.isnan(exact).all() else np.asarray(np.nan)
    for gid, bufs in net.state_buffers.items():
        for j, (_, buf) in enumerate(bufs):
            arrays[f"a{gid}.{j}/samples"] = buf.samples()
    return state, arrays


def _collect_recorder(rec, pre, arrays) -> dict:
    segments = rec.segments + [rec.current()]
    out = {"segments": [], "open": dict(rec._open), "size": int(rec.size)}
    for k, seg in enumerate(segments):
        t, pre_i, post_i, formed = seg["events"]
        arrays[f"{pre}{k}/t"], arrays[f"{pre}{k}/pre"] = np.asarray(t, float), np.asarray(pre_i, np.int64)
        arrays[f"{pre}{k}/post"], arrays[f"{pre}{k}/formed"] = np.asarray(post_i, np.int64), np.asarray(formed, bool)
        if seg["attempts"] is not None:
            arrays[f"{pre}{k}/attempts"] = np.asarray(seg["attempts"], np.int64)
        out["segments"].append({"samples": {name: [int(v) for v in values] for name, values in seg["samples"].items()},
                                "first_step": seg["first_step"], "attempts": seg["attempts"] is not None})
    return out


# --- the file ----------------------------------------------------------------------------------------------
def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def _folder(path) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CheckpointError(f"cannot write the checkpoint {path!r}: the folder {folder!r} does not exist")
    return folder


def _meta_array(meta) -> np.ndarray:
    """The __meta__ member: the JSON text as a 0-d string array."""
    return np.asarray(json.dumps(meta, default=_json_default))


def _members(arrays) -> dict:
    members = {}
    for name, arr in arrays.items():
        if name.startswith("__"):
            raise CheckpointError(f"internal error: array name {name!r} is reserved")
        arr = np.asarray(arr)
        members[name] = arr if arr.ndim == 0 else np.ascontiguousarray(arr)    # (0-d arrays stay 0-d)
    return members


def _write_then_rename(path, tmp, fill) -> None:
    """fill(file) writes the archive into `tmp`; it is flushed to disk and renamed over `path` (tmp removed on
    any failure)."""
    try:
        with open(tmp, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _sync_folder(os.path.dirname(os.path.abspath(path)))


def write(path, meta: dict, arrays: dict) -> None:
    """Write the archive atomically: a temporary file in the target's folder, flushed, then renamed."""
    path = os.fspath(path)
    folder = _folder(path)
    members = {"__meta__": _meta_array(meta), **_members(arrays)}
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    _write_then_rename(path, tmp, lambda f: np.savez(f, **members))


def write_distributed(path, meta: dict, arrays: dict, comm) -> None:
    """Every process's part of the network in one archive, written atomically (collective: every process calls
    it). Process k's arrays are the members "r<k>/<name>" and its meta is meta["ranks"][k]; the parts go
    through temporary files next to the target, which process 0 copies member by member into the archive (no
    process holds more than its own part and one array at a time)."""
    path = os.fspath(path)
    folder, token = comm.bcast((os.path.dirname(os.path.abspath(path)), os.getpid()) if comm.rank == 0 else None)
    base = os.path.basename(path)
    parts = [os.path.join(folder, f".{base}.{token}.part{k}.tmp") for k in range(comm.size)]
    error = None
    try:
        _folder(path)
        with open(parts[comm.rank], "wb") as f:       # (a temporary file: removed below whatever happens)
            np.savez(f, **_members(arrays))
    except BaseException as err:          # (every process learns of it: none is left waiting)
        error = f"process {comm.rank}: {type(err).__name__}: {err}"
    errors = [e for e in comm.allgather(error) if e is not None]
    metas = comm.gather(meta)
    try:
        if not errors and comm.rank == 0:
            try:
                top = {"format": FORMAT, "version": VERSION, "processes": comm.size, "ranks": metas}
                _write_then_rename(path, os.path.join(folder, f".{base}.{token}.tmp"),
                                   lambda f: _merge_parts(f, top, parts))
            except BaseException as err:
                error = f"{type(err).__name__}: {err}"
        error = comm.bcast(error if comm.rank == 0 else None) if not errors else errors[0]
    finally:
        comm.barrier()
        if os.path.exists(parts[comm.rank]):
            os.remove(parts[comm.rank])
    if error is not None:
        raise CheckpointError(f"cannot write the checkpoint {path!r}: {error}")


def _merge_parts(f, meta, parts) -> None:
    """An .npz archive in `f`: __meta__, then every member of each part k renamed r<k>/<name>."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as out:
        with out.open("__meta__.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, _meta_array(meta), allow_pickle=False)
        for k, part in enumerate(parts):
            with np.load(part, allow_pickle=False) as data:
                for name in data.files:
                    with out.open(f"r{k}/{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, data[name], allow_pickle=False)


def _sync_folder(folder) -> None:
    try:                                  # the rename itself reaches the disk
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def read(path, rank: int = 0, processes: int = 1) -> tuple[dict, dict]:
    """(meta, arrays) of a checkpoint for process `rank` of `processes` (its part of an archive written by
    several processes), every array read (and its CRC checked) before returning."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"there is no checkpoint file {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "__meta__" not in data.files:
                raise CheckpointError(f"{path!r} is not a pyNN.sparsegpu network checkpoint (it has no __meta__)")
            meta = json.loads(str(data["__meta__"]))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise CheckpointError(f"{path!r} is not a pyNN.sparsegpu network checkpoint")
            if meta.get("version") != VERSION:
                raise CheckpointError(f"{path!r} is a checkpoint of format version {meta.get('version')!r}; this "
                                      f"version of pyNN.sparsegpu reads version {VERSION}")
            written_by = int(meta.get("processes", 1)) if "ranks" in meta else 1
            if written_by != processes:
                raise CheckpointError(f"{path!r} was written by {written_by} MPI process(es); this run has "
                                      f"{processes} (start it with the number of processes that wrote it)")
            prefix = f"r{rank}/" if "ranks" in meta else ""
            if prefix:
                meta = dict(meta["ranks"][rank], format=meta["format"], version=meta["version"])
            arrays = {name[len(prefix):]: data[name] for name in data.files
                      if name != "__meta__" and name.startswith(prefix)}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, IndexError, TypeError,
            json.JSONDecodeError) as err:
        raise CheckpointError(f"{path!r} is not a complete checkpoint (truncated or corrupt: "
                              f"{type(err).__name__}: {err})") from None
    return meta, arrays


# --- loading into a network --------------------------------------------------------------------------------
def _need(arrays, name, path):
    if name not in arrays:
        raise CheckpointError(f"{path!r} is incomplete: it lacks the array {name!r}")
    return arrays[name]


def check(net, meta, arrays, path) -> None:
    """Raise CheckpointError when the checkpoint cannot be loaded into `net` (nothing is changed)."""
    path = os.fspath(path)
    why = refusal(net)
    if why is not None:
        raise CheckpointError(f"cannot load a checkpoint: {why}")
    saved = meta.get("layout")
    state = meta.get("state")
    if not isinstance(saved, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{path!r} is incomplete: it has no layout or state")
    diff = differences(saved, layout(net))
    if diff:
        raise CheckpointError(f"the checkpoint {path!r} was written from another network; it differs from this one "
                              "in:\n  - " + "\n  - ".join(diff))
    for i, g in enumerate(net.groups):                 # every array there, each of the right length
        for kind in ("state", "initial", "params"):
            names = g.initial if kind == "initial" else (g.state if kind == "state" else
                                                          [k for k, v in g.params.items() if not isinstance(v, list)])
            for name in names:
                arr = _need(arrays, f"g{i}/{kind}/{name}", path)
                if arr.shape[:1] != (g.n,):
                    raise CheckpointError(f"{path!r}: {_group_label(i, g)}: {kind} {name!r} holds {arr.shape[0]} "
                                          f"values for {g.n} cells")
        for name, value in g.params.items():
            if isinstance(value, list):
                lengths = _need(arrays, f"g{i}/ragged/{name}/lengths", path)
                values = _need(arrays, f"g{i}/ragged/{name}/values", path)
                if lengths.shape != (g.n,) or int(lengths.sum()) != values.shape[0]:
                    raise CheckpointError(f"{path!r}: {_group_label(i, g)}: {name!r} is inconsistent")
        ring = _need(arrays, f"g{i}/ring", path)
        if ring.ndim != 3 or ring.shape[1:] != g.ring.shape[1:]:
            raise CheckpointError(f"{path!r}: {_group_label(i, g)}: the input buffer has shape {ring.shape}")
        _need(arrays, f"g{i}/i_stim", path)
        if g.history is not None:
            for name in ("stamps", "count"):
                _need(arrays, f"g{i}/history/{name}", path)
        if g.last_spike is not None:
            _need(arrays, f"g{i}/last_spike", path)
    for i, p in enumerate(net.projections):
        entry = state["projections"][i]
        lengths = _need(arrays, f"p{i}/rows/row_length", path)
        n_pre = int(getattr(p.pre, "n_total", p.pre.n))
        if lengths.shape != (n_pre,):
            raise CheckpointError(f"{path!r}: {_projection_label(i, p)} has {lengths.shape[0]} rows, not {n_pre}")
        ind = _need(arrays, f"p{i}/rows/ind", path)
        longest = int(lengths.max()) if lengths.shape[0] else 0
        n_syn = int(lengths.astype(np.int64).sum())
        if ind.shape != (n_syn,) or longest > entry["capacity"] or (lengths.shape[0] and lengths.min() < 0):
            raise CheckpointError(f"{path!r}: {_projection_label(i, p)}: the synapse table is inconsistent")
        for name in entry["vars"]:
            shape = () if name in entry["shared"] else (n_syn,)
            if _need(arrays, f"p{i}/rows/vars/{name}", path).shape != shape:
                raise CheckpointError(f"{path!r}: {_projection_label(i, p)}: synapse variable {name!r} is "
                                      "inconsistent")
        expected = _expected_vars(p, net)
        if expected is not None and set(expected) != set(entry["vars"]):
            raise CheckpointError(f"{_projection_label(i, p)}: the checkpoint's synapses have the variables "
                                  f"{sorted(entry['vars'])}, this network's {sorted(expected)}")
        if entry["queue"]:
            for k in range(4):
                _need(arrays, f"p{i}/queue/{k}", path)
    _check_engine(net, state, arrays, path)
    for gid, bufs in net.spike_buffers.items():
        for j in range(len(bufs)):
            for name in ("steps", "channels", "exact"):
                _need(arrays, f"s{gid}.{j}/{name}", path)
    for gid, bufs in net.state_buffers.items():
        for j in range(len(bufs)):
            _need(arrays, f"a{gid}.{j}/samples", path)


def _check_engine(net, state, arrays, path) -> None:
    """The engine that continues the run: the one that wrote the checkpoint (the time grid, or a precise
    engine whose saved state fits the network)."""
    saved = state.get("spike_precision")
    if state["step_index"] > 0 and saved is not None and saved != net.spike_precision:
        raise CheckpointError(f"the checkpoint {path!r} was written with spike_precision={saved!r}, this "
                              f"simulation has spike_precision={net.spike_precision!r}: call setup() as the "
                              "script that wrote it did")
    precise = state.get("precise")
    if precise is None:
        return
    from .eventdriven.driver import checkpoint_problems, decide
    try:
        kind = decide(net)
    except ValueError as err:
        kind, why = None, str(err)
    else:
        why = "runs on the time grid"
    names = {None: "the time grid", "event": "the event-driven engine",
             "offgrid": "precise spike times on the time grid (the off-grid engine)"}
    if kind != precise.get("kind"):
        raise CheckpointError(f"the checkpoint {path!r} holds the state of {names.get(precise.get('kind'), '?')}; "
                              f"this network would run on {names[kind]}" + ("" if kind else f" ({why})") +
                              f": call setup() with engine={state.get('engine_choice')!r} and "
                              f"spike_precision={saved!r} as the script that wrote it did")
    synapses = []
    for i, p in enumerate(net.projections):
        if "delay" not in state["projections"][i]["vars"]:
            raise CheckpointError(f"{path!r}: {_projection_label(i, p)}: the synapses have no delays")
        synapses.append((p, np.asarray(arrays[f"p{i}/rows/row_length"], dtype=np.int64),
                         np.rint(np.asarray(arrays[f"p{i}/rows/vars/delay"], dtype=np.float64))))
    problems = checkpoint_problems(net, precise, {name[2:]: values for name, values in arrays.items()
                                                  if name.startswith("x/")}, synapses)
    if problems:
        raise CheckpointError(f"{path!r}: the saved state of {names[kind]} does not fit this network: "
                              + "; ".join(problems))


def _expected_vars(p, net):
    """The per-synapse variables a projection's rows hold (None when they cannot be told before the rows
    exist)."""
    if p.rows is not None:
        return list(p.rows.vars.keys())
    names = ["weight", "delay", *p.model.var_dtypes(net.backend.dtype)]
    if p._keeps_key_slots():
        names.append("_gslot")
    return names


def _as(net, arr, like=None):
    """A saved array on the network's array module, in the dtype of `like` (or, for a floating array, the
    network's precision)."""
    if like is not None:
        dtype = like.dtype
    else:
        dtype = net.backend.dtype if arr.dtype.kind == "f" else arr.dtype
    return net.backend.xp.asarray(np.ascontiguousarray(arr), dtype=dtype)


def apply(net, meta, arrays) -> None:
    """Load a checked checkpoint into `net` (check() first)."""
    state = meta["state"]
    xp = net.backend.xp
    for i, g in enumerate(net.groups):
        entry = state["groups"][i]
        g.state = {name: _as(net, arrays[f"g{i}/state/{name}"], g.state.get(name))
                   for name in [k[len(f"g{i}/state/"):] for k in arrays if k.startswith(f"g{i}/state/")]}
        g.initial = {name: _as(net, arrays[f"g{i}/initial/{name}"], arr) for name, arr in g.initial.items()}
        for name, value in list(g.params.items()):
            if isinstance(value, list):
                lengths = arrays[f"g{i}/ragged/{name}/lengths"]
                values = arrays[f"g{i}/ragged/{name}/values"]
                g.params[name] = [np.array(v) for v in np.split(values, np.cumsum(lengths)[:-1])]
            else:
                g.params[name] = _as(net, arrays[f"g{i}/params/{name}"], value)
        g._derived = None                     # recomputed from the parameters at the next run
        g._fused = None
        g.ring = _as(net, arrays[f"g{i}/ring"], g.ring)
        g.i_stim = _as(net, arrays[f"g{i}/i_stim"], g.i_stim)
        if g.history is not None:
            h = entry["history"]
            g.history.depth, g.history.extra, g.history.overflow = int(h["depth"]), int(h["extra"]), int(h["overflow"])
            g.history.stamps = _as(net, arrays[f"g{i}/history/stamps"], g.history.stamps)
            g.history.count = _as(net, arrays[f"g{i}/history/count"], g.history.count)
        if g.last_spike is not None:
            g.last_spike = _as(net, arrays[f"g{i}/last_spike"], g.last_spike)
        _set_rng_state(g.rng, entry["rng"])
        g.initialized = []
        g.version += 1
    for i, p in enumerate(net.projections):
        entry = state["projections"][i]
        _load_rows(net, p, i, entry, arrays)
        if hasattr(p, "_elapsed"):
            p._elapsed = int(entry["elapsed"])
        if hasattr(p, "_queue"):
            p._queue = tuple(xp.asarray(arrays[f"p{i}/queue/{k}"], dtype=xp.int64) for k in range(4)) \
                if entry["queue"] else None
        _set_rng_state(getattr(p, "rng", None), entry["rng"])
        r = p.rewirer
        if r is not None:
            e = entry["rewirer"]
            r.batches, r._due = int(e["batches"]), float(e["due"])
            r.totals.clear()
            r.totals.update({k: int(v) for k, v in e["totals"].items()})
            _set_rng_state(r.rng, e["rng"])
            if r.recorder is not None:
                _load_recorder(r.recorder, e["recorder"], f"p{i}/rec/", arrays)
    for i, e in enumerate(net.electrodes):
        entry = state["current_sources"][i]
        params = {}
        for name in entry["params"]:
            value = arrays[f"e{i}/params/{name}"]
            params[name] = np.array(value) if name in entry["arrays"] else value.item()
        e.params = params
        e.recording = bool(entry["recording"])
        e.trace_t = [float(v) for v in arrays[f"e{i}/trace_t"]]
        e.trace_i = [float(v) for v in arrays[f"e{i}/trace_i"]]
        if hasattr(e, "_cache"):
            e._cache = None
        _set_rng_state(e.rng, entry["rng"])
    for gid, bufs in net.spike_buffers.items():
        for j, buf in enumerate(bufs):
            buf.flush()
            buf.steps = [np.asarray(arrays[f"s{gid}.{j}/steps"], np.int64)]
            buf.channels = [np.asarray(arrays[f"s{gid}.{j}/channels"], np.int64)]
            exact = np.asarray(arrays[f"s{gid}.{j}/exact"], np.float64)
            buf.exact = [np.broadcast_to(exact, buf.steps[0].shape).copy() if exact.ndim == 0 else exact]
    for gid, bufs in net.state_buffers.items():
        for j, (_, buf) in enumerate(bufs):
            buf._fill = 0
            buf.chunks = [np.asarray(arrays[f"a{gid}.{j}/samples"], np.float64)]
    net.step_index = int(state["step_index"])
    net._primed = bool(state["primed"])
    net._engine_decided = bool(state["engine_decided"]) or net.step_index > 0
    net.event_engine = None
    precise = state.get("precise")
    if precise is not None:               # the precise engine, built for the network as restored, continues
        from .eventdriven.driver import choose
        engine = choose(net)
        engine.load_checkpoint(precise, {name[2:]: values for name, values in arrays.items()
                                         if name.startswith("x/")})
        net.event_engine, net._engine_decided = engine, True


def _load_rows(net, p, i, entry, arrays):
    """The projection's rows as saved, in place in its RaggedRows object (a trainer holds that object). (The
    NumPy propagation's scatter cache is keyed by its ring, which apply() has replaced.)"""
    xp = net.backend.xp
    lengths = np.asarray(arrays[f"p{i}/rows/row_length"], dtype=np.int64)
    ind = arrays[f"p{i}/rows/ind"]
    capacity = max(int(entry["capacity"]), 1)
    n_pre = lengths.shape[0]
    p._pending = []
    p.dt = net.dt
    if p.rows is None:
        dtypes = {name: arrays[f"p{i}/rows/vars/{name}"].dtype for name in entry["vars"]}
        p.rows = RaggedRows(net.backend, n_pre, p.post.n, 1, dtypes)
    rows = p.rows
    current = {name: rows.vars.peek(name).dtype for name in rows.vars.keys()}
    r = np.repeat(np.arange(n_pre), lengths)                        # the slots of the saved synapses
    c = np.arange(r.shape[0]) - np.repeat(np.cumsum(lengths) - lengths, lengths)

    def table(saved, dtype):
        out = np.zeros((n_pre, capacity), dtype=dtype)
        out[r, c] = saved
        return xp.asarray(out)
    new_ind = table(ind, index_dtype(rows.n_post))
    new_vars = {}
    for name in entry["vars"]:
        saved = arrays[f"p{i}/rows/vars/{name}"]
        dtype = current.get(name, net.backend.dtype if saved.dtype.kind == "f" else saved.dtype)
        new_vars[name] = table(saved, dtype)
    rows.capacity = capacity
    rows.ind = new_ind
    rows.row_length = xp.asarray(np.asarray(lengths, dtype=np.int32))
    rows.vars = new_vars
    rows.failed_additions = int(entry["failed_additions"])


def _load_recorder(rec, entry, pre, arrays) -> None:
    segments = []
    for k, seg in enumerate(entry["segments"]):
        events = (np.asarray(arrays[f"{pre}{k}/t"], float), np.asarray(arrays[f"{pre}{k}/pre"], np.int64),
                  np.asarray(arrays[f"{pre}{k}/post"], np.int64), np.asarray(arrays[f"{pre}{k}/formed"], bool))
        attempts = np.asarray(arrays[f"{pre}{k}/attempts"], np.int64) if seg["attempts"] else None
        segments.append({"samples": {name: list(values) for name, values in seg["samples"].items()},
                         "events": events, "attempts": attempts, "first_step": seg["first_step"]})
    current = segments.pop()
    rec.segments = segments
    rec.samples = {name: list(values) for name, values in current["samples"].items()}
    rec._open = {name: int(v) for name, v in entry["open"].items()}
    rec.size = int(entry["size"])
    rec.first_step = current["first_step"]
    t, pre_i, post_i, formed = current["events"]
    chunk = (t, pre_i, post_i, formed) + ((current["attempts"],) if current["attempts"] is not None else ())
    rec.event_log = [chunk] if t.shape[0] else []
