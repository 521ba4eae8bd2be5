"""Training time per epoch of e-prop classifiers: dense vs static sparse vs DEEP R, on SHD-shaped data.

    python benchmarks/eprop_benchmark.py [--samples 16] [--batch 8] [--densities 0.01,0.05] [--hidden 512]
                                         [--duration 1000] [--dtype float32] [--skip-dense]
                                         [--out benchmarks/results/eprop.json]

The network is examples/deep_r_classifier.py's build_classifier: 700 SpikeSourceArray inputs -> 512 EpropALIF
(recurrent) -> 20 LeakyIntegratorReadout, every delay 1 ms, dt 1 ms, 1 s trials (1000 steps), trained by
sim.EpropTrainer with Adam. Data: make_shd_like_synthetic (700 channels, 20 classes, 1 s). Models, all in one
invocation, each in its own sim.setup():
    dense            all-to-all input and recurrent projections (run as dense matrices)
    static p         FixedProbabilityConnector(p) input and recurrent, fixed
    deep_r p         the same start, rewired by DEEP R after every batch, row capacity twice the expected row
                     length (so the rows hold twice the slots the synapses need)
An epoch is one pass over --samples training samples in batches of --batch (the GPU reference setup uses batch
512 over 8,156 samples; on a CPU a small epoch keeps the dense model affordable). Times are wall-clock per
epoch (the second of two epochs, so one-off costs are excluded; the first is reported too). For DEEP R the
time spent in the rewiring calls is reported apart. The ratios printed are dense / static at each density and
deep_r / static at the same density.
"""

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import REPO_ROOT, backend_info_of, fmt, metadata, print_table, write_json  # noqa: E402

sys.path.insert(0, os.path.join(REPO_ROOT, "examples"))
from deep_r_classifier import build_classifier  # noqa: E402


class RewireTimer:
    def __init__(self, rule, backend):
        self.seconds, self.calls, self._rewire, self.backend = 0.0, 0, rule.rewire, backend
        rule.rewire = self

    def __call__(self, *args, **kwargs):
        self._sync()
        t0 = time.perf_counter()
        out = self._rewire(*args, **kwargs)
        self._sync()
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out

    def _sync(self):
        if self.backend.is_gpu:
            import cupy
            cupy.cuda.Device().synchronize()   # synchronize! (timing only)


def run_case(sim, kind, density, train, args):
    sim.setup(timestep=1.0, min_delay=1.0)
    t0 = time.perf_counter()
    _, _, _, p_in, p_rec, p_out = build_classifier(sim, train.n_channels, args.hidden, train.n_classes, kind,
                                                   density, l1=1e-5, seed=args.seed)
    trainer = sim.EpropTrainer(p_in, p_out, recurrent_projection=p_rec, optimiser=sim.Adam(1e-3),
                               batch_size=args.batch, seed=args.seed, dtype=args.dtype)
    t_build = time.perf_counter() - t0
    backend = sim.simulator.state.network.backend
    timers = [RewireTimer(tp.deep_r, backend) for tp in trainer._trained.values()
              if tp is not None and tp.deep_r is not None]
    history = trainer.fit(train, epochs=2, progress=False)
    rewire_s = sum(t.seconds for t in timers) / 2 if timers else None
    rows = {name: tp.rows for name, tp in trainer._trained.items() if tp is not None}
    result = {"kind": kind, "density": density, "build_s": t_build, "first_epoch_s": history["time"][0],
              "epoch_s": history["time"][1], "rewire_s_per_epoch": rewire_s,
              "synapses": {name: r.size() for name, r in rows.items()},
              "row_capacity": {name: r.capacity for name, r in rows.items()},
              "longest_row": {name: int(backend.to_host(r.row_length).max()) for name, r in rows.items()},
              "rewired": {name: sum(e[name]["formed"] for e in history["rewiring"]) for name in history["rewiring"][0]},
              "hidden_rate_hz": history["rate"][-1], "dense_path": {n: tp.dense for n, tp in
                                                                   trainer._trained.items() if tp is not None}}
    sim.end()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--densities", default="0.01,0.05")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--duration", type=float, default=1000.0)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-dense", action="store_true")
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "benchmarks", "results", "eprop.json"))
    args = parser.parse_args(argv)
    sim = importlib.import_module("pyNN.sparsegpu")
    from pynn_sparsegpu.datasets import make_shd_like_synthetic
    train = make_shd_like_synthetic(args.samples, duration_ms=args.duration, seed=args.seed)
    densities = [float(d) for d in args.densities.split(",") if d.strip()]
    cases = ([] if args.skip_dense else [("dense", 1.0)]) + \
        [(kind, d) for d in densities for kind in ("static", "deep_r")]
    meta = metadata()
    meta.update(vars(args))
    results = []
    for kind, d in cases:
        print(f"[{kind} {d:g}] ...", end=" ", flush=True)
        r = run_case(sim, kind, d, train, args)
        print(f"{r['epoch_s']:.2f} s/epoch", flush=True)
        results.append(r)
    by = {(r["kind"], r["density"]): r for r in results}
    headers = ["model", "density", "synapses in", "synapses rec", "capacity in/rec", "build s", "epoch 1 s",
               "epoch s", "rewire s", "dense/this", "this/static", "rate Hz"]
    rows = []
    dense = by.get(("dense", 1.0))
    for r in results:
        static = by.get(("static", r["density"]))
        rows.append([r["kind"], f"{r['density']:g}", r["synapses"]["input"], r["synapses"]["recurrent"],
                     f"{r['row_capacity']['input']}/{r['row_capacity']['recurrent']}", fmt(r["build_s"], ".2f"),
                     fmt(r["first_epoch_s"], ".2f"), fmt(r["epoch_s"], ".2f"), fmt(r["rewire_s_per_epoch"], ".3f"),
                     fmt(dense["epoch_s"] / r["epoch_s"] if dense else None, ".1f"),
                     fmt(r["epoch_s"] / static["epoch_s"] if static and r["kind"] == "deep_r" else None, ".2f"),
                     fmt(r["hidden_rate_hz"], ".1f")])
    print()
    print(f"e-prop training, {args.samples} samples/epoch, batch {args.batch}, {args.hidden} ALIF, "
          f"{args.duration:g} ms trials, {args.dtype}; {meta['cpu_model']}, {meta['cpu_count']} CPUs, "
          f"git {meta['git_commit']}{' (dirty)' if meta['git_dirty'] else ''}; backend {backend_info_of(sim)}")
    print_table(headers, rows)
    write_json(args.out, {"metadata": meta, "results": results})
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
