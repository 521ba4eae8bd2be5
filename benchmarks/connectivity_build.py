"""Building large connectivity: time and memory from 10^6 to 10^8 synapses.

    python benchmarks/connectivity_build.py [--synapses 1e6,1e7,1e8] [--n 100000]
                                            [--connectors fixed_number_pre,fixed_probability]
                                            [--backend numpy|cupy|auto] [--out benchmarks/results/build.json]

Each (connector, size) runs in a fresh Python process: one Population of n neurons projecting onto
itself, with k = synapses / n sources per neuron (FixedNumberPreConnector) or p = synapses / n^2
(FixedProbabilityConnector), weight 0.01 nA and delay 1 ms. "connect" is the Projection call (the
connector's indices generated, on the device with CuPy); "rows" is the first 0.1 ms run, which builds
the ragged rows. Peak host memory is the process's maximum resident set; peak device memory is the size
of CuPy's memory pool after the build (it keeps freed blocks, so this is its high-water mark; CuPy
only). "bytes/syn" is the stored rows (indices, weight, delay, spare slots included) over the synapse
count.
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time

from bench_common import BENCH_DIR, fmt, metadata, print_table, run_child, write_json


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--synapses", default="1e6,1e7,1e8", help="comma-separated synapse counts")
    p.add_argument("--n", type=int, default=100_000, help="neurons (default 100000)")
    p.add_argument("--connectors", default="fixed_number_pre,fixed_probability")
    p.add_argument("--backend", default="auto", help="numpy, cupy or auto (default)")
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "connectivity_build.json"))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--connector", help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def child(args):
    import pyNN.sparsegpu as sim
    n, target = args.n, int(float(args.synapses))
    t0 = time.perf_counter()
    sim.setup(timestep=0.1, backend=args.backend)
    backend = sim.simulator.state.network.backend
    pool = None
    if backend.is_gpu:
        import cupy
        pool = cupy.get_default_memory_pool()
    pop = sim.Population(n, sim.IF_curr_exp())
    if args.connector == "fixed_number_pre":
        connector = sim.FixedNumberPreConnector(max(1, round(target / n)), rng=sim.NumpyRNG(seed=1))
    else:
        connector = sim.FixedProbabilityConnector(target / n / n, rng=sim.NumpyRNG(seed=1))
    t1 = time.perf_counter()
    prj = sim.Projection(pop, pop, connector, sim.StaticSynapse(weight=0.01, delay=1.0))
    if pool is not None:
        import cupy
        cupy.cuda.Device().synchronize()
    t2 = time.perf_counter()
    sim.run(0.1)
    t3 = time.perf_counter()
    rows = prj._groups[(0, 0)].rows
    stored = rows.ind.nbytes + rows.row_length.nbytes + sum(v.nbytes for v in rows.vars.values())
    size = prj.size()
    result = {"connector": args.connector, "n": n, "synapses": size, "connect_s": t2 - t1, "rows_s": t3 - t2,
              "setup_s": t1 - t0, "capacity": rows.capacity, "bytes_per_synapse": stored / max(size, 1),
              "peak_host_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20,
              "peak_device_gib": None if pool is None else pool.total_bytes() / 2 ** 30,
              "backend": backend.info() if hasattr(backend, "info") else str(backend)}
    with open(args.json, "w") as f:
        json.dump(result, f)


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        child(args)
        return
    results, rows = [], []
    for connector in args.connectors.split(","):
        for synapses in args.synapses.split(","):
            fd, path = tempfile.mkstemp(suffix=".json")
            os.close(fd)
            cmd = [sys.executable, os.path.abspath(__file__), "--child", "--connector", connector,
                   "--synapses", synapses, "--n", str(args.n), "--backend", args.backend, "--json", path]
            result, error, _ = run_child(cmd, args.timeout)
            if result is None:
                print(f"{connector} {synapses}: {error}", file=sys.stderr)
                results.append({"connector": connector, "synapses_asked": float(synapses), "error": error})
                continue
            results.append(result)
            rows.append([connector, f"{result['synapses']:.3g}", fmt(result["connect_s"], ".2f"),
                         fmt(result["rows_s"], ".2f"), fmt(result["bytes_per_synapse"], ".1f"),
                         fmt(result["peak_host_gib"], ".2f"), fmt(result["peak_device_gib"], ".2f")])
    print_table(["connector", "synapses", "connect s", "rows s", "bytes/syn", "peak host GiB",
                 "peak device GiB"], rows)
    write_json(args.out, {"meta": metadata(), "args": vars(args), "results": results})


if __name__ == "__main__":
    main()
