"""What reading a static projection's rows as target indices alone saves, on the balanced network.

A static projection whose synapses all hold one delay and one weight keeps them as numbers, and its
propagation kernel reads the rows' target indices only (docs/compiled_engine.md, "What a step is"). This script
runs benchmarks/balanced_network.py on the compiled CPU path twice per size, as it is ("indices only") and with
that detection turned off in the child process ("full rows": index, weight and delay read per synapse), and
repeats the pair; each pair runs back to back, so that both halves of a ratio see the same machine.

    python benchmarks/uniform_rows.py [--sizes 10000,100000] [--k 100] [--tstop 1000] [--repeats 3]
                                      [--json benchmarks/results/uniform_rows.json]

Prints the steady-state seconds per simulated second of each run and the median saving, and writes the JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from bench_common import median_or_none, metadata, print_table, run_child, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
FULL_ROWS = ("import runpy, sys; import pynn_sparsegpu.engine.compiled.runner as r; "
             "r._uniform_values = lambda p: (None, None); sys.argv = sys.argv[1:]; "
             "runpy.run_path(sys.argv[0], run_name='__main__')")


def child(n, k, tstop, full_rows, folder):
    out = os.path.join(folder, f"n{n}_{'full' if full_rows else 'indices'}.json")
    args = [os.path.join(HERE, "balanced_network.py"), "sparsegpu", "--n", str(n), "--k", str(k), "--tstop",
            str(tstop), "--precision", "float64", "--spike-precision", "on_grid", "--json", out]
    cmd = [sys.executable, "-c", FULL_ROWS, *args] if full_rows else [sys.executable, *args]
    result, error, _ = run_child(cmd, timeout=3600, env=dict(os.environ, PYTHONPATH=HERE))
    if error:
        raise RuntimeError(f"{' '.join(cmd)}: {error}")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--tstop", type=float, default=1000.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows, table = [], []
    with tempfile.TemporaryDirectory() as folder:
        for n in (int(s) for s in args.sizes.split(",")):
            pairs = []
            for _ in range(args.repeats):
                indices = child(n, args.k, args.tstop, False, folder)
                full = child(n, args.k, args.tstop, True, folder)
                if indices["spikes"] != full["spikes"]:
                    raise RuntimeError(f"N = {n}: the two runs differ ({indices['spikes']} and {full['spikes']} "
                                       "spikes); they must give the same network")
                pairs.append((indices["run_s_per_sim_s"], full["run_s_per_sim_s"]))
            saving = median_or_none([1.0 - a / b for a, b in pairs])
            rows.append({"n": n, "k": args.k, "tstop_ms": args.tstop, "spikes": indices["spikes"],
                         "indices_only_s_per_sim_s": [a for a, _ in pairs],
                         "full_rows_s_per_sim_s": [b for _, b in pairs], "median_saving": saving})
            table.append([n, indices["spikes"], " ".join(f"{a:.3f}" for a, _ in pairs),
                          " ".join(f"{b:.3f}" for _, b in pairs), f"{100 * saving:.0f} %"])
    print_table(["N", "spikes", "indices only: s per sim s", "full rows: s per sim s", "saving (median)"], table)
    if args.json:
        write_json(args.json, {"meta": metadata(), "rows": rows})


if __name__ == "__main__":
    main()
