"""The balanced network of balanced_network.py on 1 and more MPI processes: time per simulated second, the spike
exchange's time per step, and a check that every process count gives the same spikes.

    python benchmarks/mpi_scaling.py [--n 100000] [--k 100] [--tstop 1000] [--processes 1 2]
                                     [--json benchmarks/results/mpi_scaling.json]

The driver starts `mpiexec -n P python benchmarks/mpi_scaling.py --worker ...` for each P (P = 1 also under
mpiexec, so every row pays the same start-up) and prints a table. Each worker builds the network (on_grid spike
times, float64, the compiled CPU path, one thread per process), runs 2 ms (first run: packing the rows) and then
the rest, and reports, as the largest over its processes:

  build_s        setup, populations and projections (every process generates the whole connectivity and
                 keeps the synapses onto its own cells)
  run_s_per_s    wall seconds per simulated second of the steady part (after the first 2 ms)
  exchange_us    wall microseconds per step inside the spike exchange (reading the send buffer, MPI_Allgatherv,
                 sorting what arrived; it includes waiting for the slowest process)
  first_run_s    the first run() call
plus the spikes, the mean rate, the bytes exchanged per step (12 bytes per spike and process that receives it),
and a SHA-1 of every spike (cell, step) of the network, which must be the same for every P.
"""

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402

from bench_common import fmt, metadata, print_table, write_json  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100000, help="neurons (default 10^5)")
    p.add_argument("--k", type=int, default=100, help="in-degree (default 100: 10^7 synapses at 10^5 neurons)")
    p.add_argument("--tstop", type=float, default=1000.0, help="simulated ms (default 1000)")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="process counts (default 1 2)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--worker", metavar="FILE", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def worker(args):
    import pyNN.sparsegpu as sim
    from balanced_network import build, run_in_two_parts
    ns = argparse.Namespace(n=args.n, k=args.k, seed=args.seed, precision="float64", threads=1,
                            spike_precision="on_grid")
    t0 = time.perf_counter()
    exc, inh, projections, sizes = build(sim, ns)
    t_built = time.perf_counter()
    first_ms, t_first, t_end = run_in_two_parts(sim, args.tstop)
    stats = sim.kernel_statistics()
    comm = sim.simulator.state.network.comm
    events = []
    dt = sim.get_time_step()
    for offset, pop in ((0, exc), (exc.size, inh)):
        ids, times = pop.recorder._get_spiketimes(pop.local_cells)
        events.append(np.stack([pop.id_to_index(ids) + offset if len(ids) else np.zeros(0, np.int64),
                                np.rint(times / dt).astype(np.int64)], axis=1))
    local = np.concatenate(events).astype(np.int64)
    gathered = comm.gather(local)
    steps = max(stats["steps"], 1)
    mine = {"build_s": t_built - t0, "first_run_s": t_first - t_built,
            "run_s_per_s": (t_end - t_first) / ((args.tstop - first_ms) / 1000.0),
            "exchange_us": 1e6 * stats.get("exchange_seconds", 0.0) / steps}
    every = comm.gather(mine)
    if comm.rank == 0:
        worst = {key: max(m[key] for m in every) for key in mine}
        everything = np.concatenate(gathered)
        everything = everything[np.lexsort((everything[:, 1], everything[:, 0]))]
        exchanged = stats.get("spikes_exchanged", 0)
        result = dict(worst, processes=comm.size, mpi=sim.backend_info()["mpi"], n=args.n, k=args.k,
                      tstop_ms=args.tstop, spikes=int(everything.shape[0]),
                      rate_hz=everything.shape[0] / args.n / (args.tstop / 1000.0),
                      sha1=hashlib.sha1(everything.tobytes()).hexdigest(),
                      block_steps=stats.get("exchange_block_steps"),
                      bytes_per_step=12.0 * exchanged * max(comm.size - 1, 0) / steps,
                      launches_per_step=stats["launches_per_step"], syncs_per_step=stats["syncs_per_step"])
        with open(args.worker, "w") as f:
            json.dump(result, f)
    sim.end()


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    mpiexec = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    if mpiexec is None:
        sys.exit("mpiexec not found: pip install pynn_sparsegpu[mpi]")
    rows, results = [], []
    for p in args.processes:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.json")
            cmd = [mpiexec, "-n", str(p), sys.executable, os.path.abspath(__file__), "--worker", out,
                   "--n", str(args.n), "--k", str(args.k), "--tstop", str(args.tstop), "--seed", str(args.seed)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
            with open(out) as f:
                r = json.load(f)
        results.append(r)
        base = results[0]
        rows.append([p, fmt(r["build_s"], ".2f"), fmt(r["first_run_s"], ".2f"), fmt(r["run_s_per_s"], ".2f"),
                     fmt(base["run_s_per_s"] / r["run_s_per_s"], ".2f"), fmt(r["exchange_us"], ".1f"),
                     fmt(r["bytes_per_step"], ".0f"), r["spikes"], fmt(r["rate_hz"], ".2f"),
                     "yes" if r["sha1"] == base["sha1"] else "NO"])
    print(f"balanced network, {args.n} neurons, {args.n * args.k} synapses, {args.tstop} ms, dt 0.1 ms, "
          f"exchange every {results[-1]['block_steps']} steps")
    print_table(["processes", "build s", "first run s", "run s / sim s", "speed-up", "exchange us/step",
                 "bytes/step", "spikes", "rate Hz", "same spikes"], rows)
    if args.json:
        write_json(args.json, {"metadata": metadata(), "benchmark": "mpi_scaling", "results": results})


if __name__ == "__main__":
    main()
