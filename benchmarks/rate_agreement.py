"""Mean firing rates of sparsegpu and NEST over many network seeds: VA COBA, VA CUBA and simple_network.

    python benchmarks/rate_agreement.py [--seeds 10] [--first-seed 1] [--sims sparsegpu,nest]
                                        [--models COBA,CUBA,simple_network] [--out FILE]

Each (model, simulator, seed) runs in its own process: benchmarks/va_network.py SIM {COBA,CUBA} --seed S (4000
cells, 1000 ms) and examples/simple_network.py SIM --seed S (1000 cells, 1000 ms). The seed draws the
connectivity and the initial membrane potentials, so the seeds give independent realisations of the same
network; the networks are chaotic, so two simulators are compared by their rate statistics, not spike by spike.

Per model and population the table gives each simulator's mean rate ± its standard error over the seeds, the
difference of the means in units of the standard error of the difference (|d| / SE; "agree" when below 2), and
Welch's t-test p-value (SciPy's where installed). Results go to benchmarks/results/rate_agreement.json.
"""

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile

from bench_common import BENCH_DIR, REPO_ROOT, metadata, print_table, run_child, write_json

RATE_LINE = re.compile(r"rate exc / inh\s+([0-9.]+) Hz / ([0-9.]+) Hz")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="number of seeds per model and simulator (default 10)")
    p.add_argument("--first-seed", type=int, default=1, help="the first seed (default 1)")
    p.add_argument("--sims", default="sparsegpu,nest", help="comma-separated simulators (default sparsegpu,nest)")
    p.add_argument("--models", default="COBA,CUBA,simple_network", help="comma-separated, from COBA, CUBA, "
                   "simple_network")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per run (default 900)")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "rate_agreement.json"))
    args = p.parse_args(argv)
    if args.seeds < 2:
        p.error(f"--seeds must be at least 2 (a standard error needs two), got {args.seeds}")
    for model in args.models.split(","):
        if model not in ("COBA", "CUBA", "simple_network"):
            p.error(f"unknown model {model!r}: use COBA, CUBA or simple_network")
    return args


def run_one(sim, model, seed, timeout, tmpdir):
    """(rate exc, rate inh) in Hz of one run, or raises RuntimeError with the child's error."""
    if model == "simple_network":
        cmd = [sys.executable, os.path.join(REPO_ROOT, "examples", "simple_network.py"), sim, "--seed", str(seed)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        match = RATE_LINE.search(proc.stdout or "")
        if proc.returncode != 0 or match is None:
            raise RuntimeError(f"{' '.join(cmd)} failed (exit status {proc.returncode}):\n{proc.stdout}\n"
                               f"{proc.stderr[-3000:]}")
        return float(match.group(1)), float(match.group(2))
    path = os.path.join(tmpdir, f"{sim}_{model}_{seed}.json")
    cmd = [sys.executable, os.path.join(BENCH_DIR, "va_network.py"), sim, model, "--seed", str(seed), "--json", path]
    result, error, _ = run_child(cmd, timeout)
    if error:
        raise RuntimeError(f"{' '.join(cmd)}: {error}")
    return result["rate_exc_hz"], result["rate_inh_hz"]


def welch(a, b):
    """(difference of means / its standard error, Welch's two-sided p-value) of samples a and b."""
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return (0.0 if ma == mb else math.inf), (1.0 if ma == mb else 0.0)
    z = (ma - mb) / se
    try:
        from scipy import stats
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    except ImportError:                        # normal approximation
        p = math.erfc(abs(z) / math.sqrt(2.0))
    return z, p


def main(argv=None):
    args = parse_args(argv)
    sims = [s for s in args.sims.split(",") if s]
    models = [m for m in args.models.split(",") if m]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    meta = metadata()
    meta.update(seeds=seeds, sims=sims, models=models)
    rates = {model: {sim: {"exc": [], "inh": []} for sim in sims} for model in models}
    tmpdir = tempfile.mkdtemp(prefix="rates_")
    for model in models:
        for sim in sims:
            for seed in seeds:
                print(f"[{model} {sim} seed {seed}] ...", end=" ", flush=True)
                exc, inh = run_one(sim, model, seed, args.timeout, tmpdir)
                rates[model][sim]["exc"].append(exc)
                rates[model][sim]["inh"].append(inh)
                print(f"{exc:.2f} / {inh:.2f} Hz", flush=True)
    summary, rows = [], []
    for model in models:
        for pop in ("exc", "inh"):
            entry = {"model": model, "population": pop}
            for sim in sims:
                values = rates[model][sim][pop]
                entry[sim] = {"mean_hz": statistics.fmean(values), "sd_hz": statistics.stdev(values),
                              "sem_hz": statistics.stdev(values) / math.sqrt(len(values)), "n": len(values)}
            if len(sims) == 2:
                z, p = welch(rates[model][sims[0]][pop], rates[model][sims[1]][pop])
                entry.update(difference_in_se=z, welch_p=p, agree=abs(z) < 2.0)
            summary.append(entry)
            row = [model, pop] + [f"{entry[s]['mean_hz']:.2f} ± {entry[s]['sem_hz']:.2f}" for s in sims]
            if len(sims) == 2:
                row += [f"{abs(entry['difference_in_se']):.2f}", f"{entry['welch_p']:.2f}",
                        "yes" if entry["agree"] else "NO"]
            rows.append(row)
    headers = ["model", "pop"] + [f"{s} Hz (mean ± SE)" for s in sims]
    if len(sims) == 2:
        headers += ["|d| / SE", "Welch p", "agree (< 2 SE)"]
    print_table(headers, rows)
    write_json(args.out, {"metadata": meta, "rates": rates, "summary": summary})
    print(f"results: {args.out}")
    return summary


if __name__ == "__main__":
    main()
