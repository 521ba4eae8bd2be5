"""Host memory over a long rewiring run: does the resident set stay flat while a network rewires for minutes of
simulated time?

    python benchmarks/rewiring_memory.py [--duration 600000] [--chunk 10000] [--scale 1] [--backend cpu]
                                         [--seed 789] [--spikes] [--events] [--json FILE]

The network is examples/topographic_map.py's (two layers of (16 scale)^2 neurons, feed-forward and lateral
projections with STDP and rewiring at 10 kHz x scale^2 attempts per projection in 1 ms batches; its input spike
trains for the whole run are drawn before the build), on the sparsegpu path --backend (default the compiled CPU
path, "cpu"). It runs for --duration ms in sim.run() calls of --chunk ms. What a user would record is recorded:
each projection's rewiring counts every simulated second (projection.record_rewiring(sampling_interval=1000)),
read with projection.rewiring_counts() after every chunk and with projection.get_rewiring_data() at the end;
--spikes also records the target layer's spikes, --events every formation and elimination (both are recorded
data that grow by design, so they are off by default).

After each chunk the script samples the process's resident set size (/proc/self/statm), its peak (ru_maxrss)
and the number of objects the garbage collector tracks (after a collection), prints a row, and at the end
reports the growth of the resident set from the end of the first chunk to the end of the last, and its
least-squares slope per simulated minute over the chunks after the first (the first carries the build of the
rows and the compiled program). The input spike trains of the whole run are made before it starts, so they
are in every sample (about 3 M spikes at scale 1 for 10 min).
Results go to benchmarks/results/rewiring_memory.json (with the machine and git metadata).
"""

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import BENCH_DIR, backend_info_of, load_example, metadata, print_table, write_json  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 2.0 ** 20


def rss_bytes() -> int:
    """Resident set size of this process now (bytes), from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _live_objects() -> int:
    """Objects the garbage collector tracks, after a collection (so garbage not yet collected is not counted)."""
    gc.collect()
    return len(gc.get_objects())


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024      # Linux reports KiB


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=600_000.0, help="simulated ms (default 600000: 10 min)")
    p.add_argument("--chunk", type=float, default=10_000.0, help="ms per sim.run() call (default 10000)")
    p.add_argument("--scale", type=int, default=1, help="layers of (16 scale)^2 neurons (default 1)")
    p.add_argument("--backend", default="cpu", help="sparsegpu path: cpu, numpy, cupy (default cpu)")
    p.add_argument("--seed", type=int, default=789)
    p.add_argument("--spikes", action="store_true", help="also record the target layer's spikes")
    p.add_argument("--events", action="store_true", help="also record every rewiring event")
    p.add_argument("--json", default=os.path.join(BENCH_DIR, "results", "rewiring_memory.json"))
    return p.parse_args(argv)


def slope_per_minute(t_ms, values):
    """Least-squares slope of values against simulated time, per simulated minute (None with < 2 points)."""
    t = np.asarray(t_ms, float) / 60_000.0
    if t.size < 2:
        return None
    return float(np.polyfit(t, np.asarray(values, float), 1)[0])


def main(argv=None):
    args = parse_args(argv)
    os.environ["PYNN_SPARSEGPU_BACKEND"] = args.backend
    topo = load_example("topographic_map")
    sim = importlib.import_module("pyNN.sparsegpu")
    rss_imported = rss_bytes()
    t0 = time.perf_counter()
    net = topo.build(sim, scale=args.scale, duration=args.duration, seed=args.seed, record_spikes=args.spikes)
    t_build = time.perf_counter() - t0
    projections = {name: net[name] for name in ("ff", "lat")}
    if args.events:
        for prj in projections.values():
            prj.record_rewiring(sampling_interval=topo.REWIRING_SAMPLE, events=True)
    rss_built = rss_bytes()

    rows, samples = [], []
    headers = ["t s", "wall s", "RSS MiB", "peak MiB", "gc objects", "ff syn", "lat syn", "formations",
               "eliminations"]
    n_chunks = int(np.ceil(args.duration / args.chunk))
    print(f"{args.backend} path, scale {args.scale}, {args.duration / 1000:g} s simulated in {n_chunks} chunks; "
          f"RSS after import {rss_imported / MIB:.1f} MiB, after build {rss_built / MIB:.1f} MiB", flush=True)
    print("  ".join(headers), flush=True)
    t_run = time.perf_counter()
    done = 0.0
    while done < args.duration - 1e-9:
        step = min(args.chunk, args.duration - done)
        t = time.perf_counter()
        sim.run(step)
        wall = time.perf_counter() - t
        done += step
        counts = {name: prj.rewiring_counts() for name, prj in projections.items()}
        sizes = {name: len(prj) for name, prj in projections.items()}
        sample = {"t_ms": done, "wall_s": wall, "rss_bytes": rss_bytes(), "peak_rss_bytes": peak_rss_bytes(),
                  "gc_objects": _live_objects(), "synapses": sizes, "counts": counts}
        samples.append(sample)
        row = [f"{done / 1000:g}", f"{wall:.2f}", f"{sample['rss_bytes'] / MIB:.1f}",
               f"{sample['peak_rss_bytes'] / MIB:.1f}", sample["gc_objects"], sizes["ff"], sizes["lat"],
               sum(c["formations"] for c in counts.values()), sum(c["eliminations"] for c in counts.values())]
        rows.append(row)
        print("  ".join(str(c) for c in row), flush=True)
    run_s = time.perf_counter() - t_run

    # what was recorded, read as a user would (and checked: one sample per simulated second)
    recorded = {}
    for name, prj in projections.items():
        seg = prj.get_rewiring_data().segments[-1]
        signals = {s.name: np.asarray(s).ravel() for s in seg.analogsignals}
        recorded[name] = {"samples": int(signals["formations"].size),
                          "formations": int(signals["formations"].sum()),
                          "eliminations": int(signals["eliminations"].sum()),
                          "events": int(seg.events[0].size) if seg.events else None}
    spikes = None
    if args.spikes:
        spikes = int(sum(len(st) for st in net["target"].get_data("spikes").segments[0].spiketrains))
    rss_end = rss_bytes()

    t = [s["t_ms"] for s in samples]
    rss = [s["rss_bytes"] for s in samples]
    growth = rss[-1] - rss[0]
    later = slice(1, None) if len(samples) > 2 else slice(None)
    summary = {
        "rss_first_chunk_mib": rss[0] / MIB, "rss_last_chunk_mib": rss[-1] / MIB,
        "rss_growth_mib": growth / MIB,
        "rss_growth_percent": 100.0 * growth / rss[0],
        "rss_slope_mib_per_simulated_minute": (slope_per_minute(t[later], rss[later]) or 0.0) / MIB,
        "gc_objects_first_last": [samples[0]["gc_objects"], samples[-1]["gc_objects"]],
        "gc_objects_slope_per_simulated_minute": slope_per_minute(t[later], [s["gc_objects"] for s in samples][later]),
        "peak_rss_mib": samples[-1]["peak_rss_bytes"] / MIB,
        "rss_after_import_mib": rss_imported / MIB, "rss_after_build_mib": rss_built / MIB,
        "rss_after_reading_records_mib": rss_end / MIB,
        "run_s": run_s, "build_s": t_build, "realtime_factor": run_s / (args.duration / 1000.0),
    }
    print()
    print_table(["", "value"], [
        ["RSS after the first chunk MiB", f"{summary['rss_first_chunk_mib']:.1f}"],
        ["RSS after the last chunk MiB", f"{summary['rss_last_chunk_mib']:.1f}"],
        ["growth MiB (%)", f"{summary['rss_growth_mib']:+.2f} ({summary['rss_growth_percent']:+.2f} %)"],
        ["slope MiB per simulated minute", f"{summary['rss_slope_mib_per_simulated_minute']:+.3f}"],
        ["gc objects first / last", "{} / {}".format(*summary["gc_objects_first_last"])],
        ["peak RSS MiB", f"{summary['peak_rss_mib']:.1f}"],
        ["run s (realtime factor)", f"{run_s:.1f} ({summary['realtime_factor']:.3f})"],
        ["rewiring samples recorded (ff / lat)", f"{recorded['ff']['samples']} / {recorded['lat']['samples']}"],
    ])
    result = {"meta": {**metadata(), "argv": sys.argv[1:], "backend_info": backend_info_of(sim)},
              "parameters": {"duration_ms": args.duration, "chunk_ms": args.chunk, "scale": args.scale,
                             "backend": args.backend, "seed": args.seed, "record_spikes": args.spikes,
                             "record_events": args.events, "f_rew_hz": net["f_rew"],
                             "neurons_per_layer": net["side"] ** 2, "input_spikes": net["n_input_spikes"]},
              "summary": summary, "recorded": recorded, "target_spikes": spikes, "samples": samples,
              "kernel_statistics": sim.kernel_statistics() if hasattr(sim, "kernel_statistics") else None}
    write_json(args.json, result)
    print(f"\nwritten {args.json}")
    sim.end()
    return 0


if __name__ == "__main__":
    sys.exit(main())
