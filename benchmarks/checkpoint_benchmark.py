"""How long sim.checkpoint and sim.restore take, and how large the file is, for a network of N cells with K
synapses each: --model stdp (default; on the time grid, every synapse carries a weight, a delay and two plastic
variables), or static synapses onto IF_curr_delta cells with precise spike times, on the event-driven engine
(--model event) or the off-grid engine (--model offgrid).

    python benchmarks/checkpoint_benchmark.py [--sizes 10000,50000] [--k 100] [--backend cpu] [--model stdp]
                                              [--json benchmarks/results/checkpoint.json]
    mpiexec -n 2 python benchmarks/checkpoint_benchmark.py ...    # every process writes its part (stdp only)

Spikes of 100 cells are recorded. Prints one row per size: synapses, file size (MB and bytes per synapse),
checkpoint seconds, restore seconds (into a fresh network built by the same code, as a new process would), and
the time to run 100 ms for scale.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np


def build(sim, n, k, backend, model="stdp"):
    v0 = sim.RandomDistribution("uniform", (-65.0, -50.0), rng=sim.NumpyRNG(2))
    if model == "stdp":
        sim.setup(timestep=0.1, backend=backend, spike_precision="on_grid", rng_seed=1)
        pop = sim.Population(n, sim.IF_curr_exp(i_offset=0.76), label="cells", initial_values={"v": v0})
        syn = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(),
                                weight_dependence=sim.AdditiveWeightDependence(), weight=0.05, delay=1.0)
    else:
        sim.setup(timestep=0.1, backend=backend, spike_precision="off_grid",
                  engine="auto" if model == "event" else "time", rng_seed=1)
        pop = sim.Population(n, sim.IF_curr_delta(i_offset=0.76, tau_refrac=2.0), label="cells",
                             initial_values={"v": v0})
        syn = sim.StaticSynapse(weight=sim.RandomDistribution("uniform", (0.0, 0.1), rng=sim.NumpyRNG(4)),
                                delay=sim.RandomDistribution("uniform", (0.5, 3.0), rng=sim.NumpyRNG(5)))
    sim.Projection(pop, pop, sim.FixedNumberPreConnector(k, rng=sim.NumpyRNG(3)), syn, label="recurrent")
    pop[:100].record("spikes")
    return pop


def measure(n, k, backend, folder, model="stdp"):
    import pynn_sparsegpu as sim
    pop = build(sim, n, k, backend, model)
    t0 = time.perf_counter()
    sim.run(100.0)
    run_s = time.perf_counter() - t0
    path = os.path.join(folder, f"c{n}.npz")
    t0 = time.perf_counter()
    sim.checkpoint(path)
    write_s = time.perf_counter() - t0
    size = os.path.getsize(path)
    spikes = sum(len(s) for s in pop.get_data().segments[0].spiketrains)
    engine = sim.backend_info()["engine"]
    build(sim, n, k, backend, model)
    t0 = time.perf_counter()
    sim.restore(path)
    read_s = time.perf_counter() - t0
    sim.end()
    return {"model": model, "engine": engine, "n": n, "k": k, "synapses": n * k, "bytes": size,
            "bytes_per_synapse": size / (n * k),
            "checkpoint_s": write_s, "restore_s": read_s, "run_100ms_s": run_s, "spikes_recorded": spikes}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--model", default="stdp", choices=["stdp", "event", "offgrid"])
    ap.add_argument("--json", default=None)
    ap.add_argument("--folder", default=os.path.join(tempfile.gettempdir(), "psg_checkpoint_benchmark"),
                    help="where the checkpoints are written (and removed)")
    args = ap.parse_args()
    rows = []
    folder = args.folder                 # (one folder that every MPI process sees)
    os.makedirs(folder, exist_ok=True)
    for n in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(n, args.k, args.backend, folder, args.model))
        path = os.path.join(folder, f"c{n}.npz")
        try:
            os.remove(path)
        except FileNotFoundError:        # (another process removed it)
            pass
    import pynn_sparsegpu as sim
    processes = sim.num_processes()
    if sim.rank() != 0:
        return
    print(f"engine: {rows[0]['engine']}, {processes} process(es)")
    print(f"{'N':>7} {'synapses':>10} {'file MB':>8} {'B/syn':>6} {'checkpoint s':>12} {'restore s':>10} "
          f"{'run 100 ms s':>12}")
    for r in rows:
        print(f"{r['n']:>7} {r['synapses']:>10} {r['bytes'] / 1e6:>8.1f} {r['bytes_per_synapse']:>6.1f} "
              f"{r['checkpoint_s']:>12.3f} {r['restore_s']:>10.3f} {r['run_100ms_s']:>12.3f}")
    if args.json:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.processor() or platform.machine()}, "
                f"{os.cpu_count()} cores", "commit": commit, "backend": args.backend, "processes": processes,
                "python": sys.version.split()[0],
                "numpy": np.__version__}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
