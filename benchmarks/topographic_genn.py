"""Cross-check of the topographic-map model against GeNN: the same network, input spikes and initial
connectivity on sparsegpu (examples/topographic_map.py) and on GeNN (PyGeNN 5), map metrics computed by the
same code (pynn_sparsegpu.analysis), wall times measured in the same invocation.

    python benchmarks/topographic_genn.py [--seeds 789,1,2,3] [--duration 60000]
                                          [--sims sparsegpu,genn,genn-cond] [--variant full|stdp|rewiring|static]
                                          [--genn-backend single_threaded_cpu] [--out FILE]

Each (simulator, seed) runs in a fresh process. The driver prints a table (change of the feed-forward centre
error and sigma_aff from t = 0, final synapse counts, mean target rate, run wall time and realtime factor)
and writes benchmarks/results/topographic_genn.json (topographic_genn_<variant>.json for the variants that
switch STDP, rewiring or both off, to compare the parts one at a time). `genn-nestlike` changes two things
in the reference code's GeNN model where it departs from NEST (and sparsegpu): its LIF holds the synaptic
current g (E - V) of the step's start over the step (replaced by one that integrates the conductance within
the step), and its STDP transmits a presynaptic spike with the weight before that spike's depression
(replaced by depression first, as NEST's stdp_synapse).

The GeNN model is written here against PyGeNN's public API from the parameters of docs/topographic_map.md
(the topographic map of the GeNN structural-plasticity code, Knight, Senk & Nowotny 2025, arXiv:2510.19764):
SpikeSourceArray input (the spike times of examples/topographic_map.py, moved one step earlier because GeNN
emits a spike in the step that starts at or after its time), the built-in LIF neuron with ExpCond synapses,
an all-to-all additive STDP weight update model with per-neuron traces, and a custom connectivity update
that carries out the rewiring attempts in place on the ragged rows: every 1 ms, 10 attempts per projection
are spread uniformly over the presynaptic rows (drawn with NumPy on the host);
an attempt on row i picks a target j uniformly; if (i, j) holds a synapse it is removed with p_elim_dep
(weight below 0.1 uS) or p_elim_pot, otherwise one is added with the Gaussian formation probability at
weight g_max. The initial connectivity is the one sparsegpu's connector drew for the same seed (read from a
sparsegpu build, set with set_sparse_connections), so both simulators start from the same state.

PyGeNN is not on PyPI: build it from GeNN's source (https://github.com/genn-team/genn, tag 5.4.0, with
`pip install .` in a checkout; it needs a C++ compiler, pybind11, pkgconfig, psutil and libffi-dev) into an
environment that also has this package installed. The CPU backend needs no GPU.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)
from bench_common import load_example, metadata, print_table, write_json  # noqa: E402


# --- the GeNN run ------------------------------------------------------------------------------------------
class _Snapshot:
    """A projection as pynn_sparsegpu.analysis reads one from a backend other than sparsegpu: positions, the
    Space and get(["weight"], format="list", with_address=True)."""

    def __init__(self, layer, space, pre, post, weight):
        self.pre = self.post = layer
        self.space = space
        self._rows = np.column_stack([pre, post, weight]).astype(float)

    def get(self, names, format="list", with_address=True):
        return self._rows


def _genn_models(pygenn, side, nestlike=False):
    """The STDP and rewiring models. nestlike=False: the reference code's STDP, which transmits a presynaptic
    spike with the weight before that spike's depression; True: depression first, as NEST's stdp_synapse
    and sparsegpu (and PyNN's STDPMechanism) do."""
    depress = "if (t - st_post > 0.0) { g = fmax(wMin, fmin(wMax, g - aMinus * postTrace)); }"
    stdp = pygenn.create_weight_update_model(
        "stdp_additive_all_to_all_nestlike" if nestlike else "stdp_additive_all_to_all",
        params=["tauPlus", "tauMinus", "aPlus", "aMinus", "wMin", "wMax"],
        vars=[("g", "scalar")], pre_vars=[("preTrace", "scalar")], post_vars=[("postTrace", "scalar")],
        pre_spike_syn_code=(depress + "\naddToPost(g);") if nestlike else ("addToPost(g);\n" + depress),
        post_spike_syn_code="""
            if (t - st_pre > 0.0) { g = fmin(wMax, fmax(wMin, g + aPlus * preTrace)); }
        """,
        pre_spike_code="preTrace += 1.0;",
        pre_dynamics_code="preTrace *= exp(-dt / tauPlus);",
        post_spike_code="postTrace += 1.0;",
        post_dynamics_code="postTrace *= exp(-dt / tauMinus);")
    half = side / 2.0
    rewire = pygenn.create_custom_connectivity_update_model(
        "pair_rewiring",
        params=["p_peak", "sigma", "w_thresh", "w_new", "p_dep", "p_pot"],
        extra_global_params=[("attempts", "unsigned int*")],
        var_refs=[("g", "scalar")],
        row_update_code=f"""
            const unsigned int n = attempts[id_pre];
            for (unsigned int a = 0; a < n; a++) {{
                unsigned int j = (unsigned int)(gennrand_uniform() * num_post);
                if (j >= num_post) {{ j = num_post - 1; }}
                bool found = false;
                for_each_synapse {{
                    if (!found && id_post == j) {{
                        found = true;
                        if (gennrand_uniform() < ((g < w_thresh) ? p_dep : p_pot)) {{ remove_synapse(); }}
                    }}
                }}
                if (!found) {{
                    scalar dx = fabs((scalar)(id_pre % {side}u) - (scalar)(j % {side}u));
                    scalar dy = fabs((scalar)(id_pre / {side}u) - (scalar)(j / {side}u));
                    if (dx > {half}) {{ dx = {float(side)} - dx; }}
                    if (dy > {half}) {{ dy = {float(side)} - dy; }}
                    if (gennrand_uniform() < p_peak * exp(-(dx * dx + dy * dy) / (2.0 * sigma * sigma))) {{
                        add_synapse(j, w_new);
                    }}
                }}
            }}
        """)
    return stdp, rewire


def _genn_conductance_neuron(pygenn):
    """A LIF neuron that integrates its conductance input within the step (as NEST and sparsegpu do), for
    genn-nestlike: the postsynaptic model passes the conductance g (uS, exponential decay) on as the
    input; over a step the membrane relaxes exactly towards the conductance-weighted mean of V_rest and E
    with g at its mean over the step. GeNN's built-in LIF + ExpCond instead injects the current
    g (E - V) with V at the start of the step, held over the step."""
    neuron = pygenn.create_neuron_model(
        "lif_conductance",
        params=["C", "TauM", "Vrest", "Vreset", "Vthresh", "TauRefrac", "TauSyn", "E"],
        vars=[("V", "scalar"), ("RefracTime", "scalar")],
        sim_code="""
            if (RefracTime <= 0.0) {
                const scalar gL = C / TauM;
                const scalar g = Isyn * (TauSyn / dt) * (1.0 - exp(-dt / TauSyn));
                const scalar vInf = (gL * Vrest + g * E) / (gL + g);
                V = vInf + (V - vInf) * exp(-dt * (gL + g) / C);
            }
            else {
                RefracTime -= dt;
            }
        """,
        threshold_condition_code="RefracTime <= 0.0 && V >= Vthresh",
        reset_code="V = Vreset;\nRefracTime = TauRefrac;")
    synapse = pygenn.create_postsynaptic_model(
        "exp_conductance_input", params=["tau"],
        sim_code="injectCurrent(inSyn);\ninSyn *= exp(-dt / tau);")
    return neuron, synapse


def run_genn(seed, duration, metrics_interval, backend, workdir, nestlike=False, variant="full"):
    """One GeNN run; returns the result dict (history of metrics, rates, wall times). variant: "full" (STDP and
    rewiring), "stdp" (no rewiring), "rewiring" (no STDP: A+ = A- = 0) or "static" (neither)."""
    import pygenn
    import pyNN.sparsegpu as sim
    from pyNN.space import Space
    from pynn_sparsegpu import analysis

    topo = load_example("topographic_map")
    t0 = time.perf_counter()
    net = topo.build(sim, duration=duration, seed=seed, record_spikes=False)     # the same initial state
    side, n = net["side"], net["side"] ** 2
    if net["scale"] != 1:
        raise ValueError("the GeNN cross-check runs scale 1")
    initial = {name: analysis.connections(net[name])[:2] for name in ("ff", "lat")}
    spike_times, _ = topo.input_spike_times(side, duration, seed)
    sim.end()
    dt = topo.DT
    counts = np.array([len(t) for t in spike_times])
    ends = np.cumsum(counts).astype(np.uint32)

    stdp, rewire = _genn_models(pygenn, side, nestlike)
    model = pygenn.GeNNModel("float", f"topographic_{seed}", backend=backend)
    model.dt = dt
    model.seed = seed
    src = model.add_neuron_population("source", n, "SpikeSourceArray", {},
                                      {"startSpike": ends - counts.astype(np.uint32), "endSpike": ends})
    src.extra_global_params["spikeTimes"].set_init_values(
        (np.concatenate(spike_times) - dt).astype(np.float32))
    cell = topo.CELL
    params = {"C": cell["cm"], "TauM": cell["tau_m"], "Vrest": cell["v_rest"], "Vreset": cell["v_reset"],
              "Vthresh": cell["v_thresh"], "TauRefrac": cell["tau_refrac"]}
    if nestlike:
        neuron_model, psm = _genn_conductance_neuron(pygenn)
        params.update(TauSyn=cell["tau_syn_E"], E=cell["e_rev_E"])
    else:
        neuron_model, params["Ioffset"] = "LIF", 0.0
    tgt = model.add_neuron_population(
        "target", n, neuron_model, params,
        {"V": pygenn.init_var("Normal", {"mean": topo.V_INIT_MEAN, "sd": topo.V_INIT_SD}), "RefracTime": 0.0})
    tgt.spike_recording_enabled = True
    a_plus = 0.0 if variant in ("static", "rewiring") else topo.STDP_DW_PLUS
    wu = {"tauPlus": topo.TAU_PLUS, "tauMinus": topo.TAU_MINUS, "aPlus": a_plus,
          "aMinus": topo.B_STDP * a_plus * topo.TAU_PLUS / topo.TAU_MINUS, "wMin": 0.0, "wMax": topo.G_MAX}
    groups, updates = {}, {}
    for name, pre_pop, (p, sigma) in (("ff", src, (topo.P_FF, topo.SIGMA_FF)),
                                      ("lat", tgt, (topo.P_LAT, topo.SIGMA_LAT))):
        sg = model.add_synapse_population(
            name, "SPARSE", pre_pop, tgt,
            pygenn.init_weight_update(stdp, wu, {"g": topo.G_INIT}, {"preTrace": 0.0}, {"postTrace": 0.0}),
            pygenn.init_postsynaptic("ExpCond", {"tau": cell["tau_syn_E"], "E": cell["e_rev_E"]},
                                     var_refs={"V": pygenn.create_var_ref(tgt, "V")}) if not nestlike
            else pygenn.init_postsynaptic(psm, {"tau": cell["tau_syn_E"]}))
        sg.set_sparse_connections(*initial[name])
        sg.max_connections = topo.ROW_CAPACITY
        groups[name] = sg
        cu = model.add_custom_connectivity_update(
            f"rewire_{name}", "rewire", sg, rewire,
            {"p_peak": p, "sigma": sigma, "w_thresh": topo.W_THRESHOLD, "w_new": topo.G_INIT,
             "p_dep": topo.P_ELIM_DEP, "p_pot": topo.P_ELIM_POT},
            var_refs={"g": pygenn.create_wu_var_ref(sg, "g")})
        cu.extra_global_params["attempts"].set_init_values(np.zeros(n, np.uint32))
        updates[name] = cu
    model.build(path_to_model=workdir)
    chunk = int(round(metrics_interval / dt))
    model.load(num_recording_timesteps=chunk)
    t_build = time.perf_counter() - t0

    space = Space(periodic_boundaries=((-0.5, side - 0.5), (-0.5, side - 0.5), None))
    x, y = topo.grid_positions(side)
    layer = types.SimpleNamespace(positions=np.vstack([x, y, np.zeros(n)]), size=n)

    def snapshot(t_ms):
        out = {"t_ms": t_ms}
        for name, sg in groups.items():
            sg.pull_connectivity_from_device()
            sg.vars["g"].pull_from_device()
            pre, post = np.asarray(sg.get_sparse_pre_inds()), np.asarray(sg.get_sparse_post_inds())
            w = np.asarray(sg.vars["g"].values, float)
            rf = analysis.receptive_field_metrics(_Snapshot(layer, space, pre, post, w))
            out[name] = {"mean_centre_error": rf["mean_centre_error"], "mean_sigma_aff": rf["mean_sigma_aff"],
                         "mean_sigma_aff_unbiased": rf["mean_sigma_aff_unbiased"], "mean_k_eff": rf["mean_k_eff"],
                         "synapses": int(len(w))}
        return out

    rng = np.random.default_rng(seed)
    interval = int(round(topo.REWIRING_INTERVAL / dt))
    per_batch = int(round(topo.F_REW_PER_BLOCK * topo.REWIRING_INTERVAL / 1000.0))
    history = [snapshot(0.0)]
    t_run = 0.0
    n_steps = int(round(duration / dt))
    step = 0
    while step < n_steps:
        start, stop = step, min(step + chunk, n_steps)
        tr = time.perf_counter()
        while step < stop:
            model.step_time()
            step += 1
            if variant in ("full", "rewiring") and step % interval == 0:
                for cu in updates.values():
                    cu.extra_global_params["attempts"].view[:] = np.bincount(
                        rng.integers(0, n, per_batch), minlength=n)
                    cu.extra_global_params["attempts"].push_to_device()
                model.custom_update("rewire")
        model.pull_recording_buffers_from_device()
        t_run += time.perf_counter() - tr
        times, _ = tgt.spike_recording_data[0]
        snap = snapshot(step * dt)
        snap["rate_hz"] = len(times) / n / ((stop - start) * dt / 1000.0)
        history.append(snap)
    return {"simulator": "genn-nestlike" if nestlike else "genn", "genn_backend": backend,
            "variant": variant, "pygenn_version": pygenn.__version__, "seed": seed,
            "duration_ms": duration, "history": history, "times_s": {"build": t_build, "run": t_run},
            "realtime_factor": t_run / (duration / 1000.0)}


def run_sparsegpu(seed, duration, metrics_interval, workdir, variant="full"):
    """One sparsegpu run of examples/topographic_map.py; returns the result dict in the GeNN run's layout."""
    path = os.path.join(workdir, f"sparsegpu_{seed}.json")
    switched_off = {"full": [], "stdp": ["--no-rewiring"], "rewiring": ["--no-stdp"],
                    "static": ["--no-stdp", "--no-rewiring"]}[variant]
    subprocess.run([sys.executable, os.path.join(REPO_ROOT, "examples", "topographic_map.py"), "sparsegpu",
                    "--seed", str(seed), "--duration", str(duration), "--metrics-interval", str(metrics_interval),
                    "--no-figures", "--out", workdir, "--json", path] + switched_off,
                   check=True, stdout=subprocess.DEVNULL)
    with open(path) as f:
        r = json.load(f)
    history = [{"t_ms": h["t_ms"], "rate_hz": h["rate_hz"],
                **{name: {k: h[f"{name}_{k}"] for k in ("mean_centre_error", "mean_sigma_aff",
                                                         "mean_sigma_aff_unbiased", "mean_k_eff", "synapses")}
                   for name in ("ff", "lat")}} for h in r["history"]]
    return {"simulator": "sparsegpu", "variant": variant, "backend_info": r.get("backend_info"), "seed": seed,
            "duration_ms": duration, "history": history, "times_s": {"build": r["times_s"]["build"], "run": r["times_s"]["run"]},
            "realtime_factor": r["realtime_factor"]}


def summary(result):
    first, last = result["history"][0]["ff"], result["history"][-1]["ff"]

    def change(key):
        return 100.0 * (last[key] / first[key] - 1.0)

    rates = [h["rate_hz"] for h in result["history"][1:]]
    return {"simulator": result["simulator"], "seed": result["seed"],
            "centre_error_change_pct": change("mean_centre_error"), "sigma_aff_change_pct": change("mean_sigma_aff"),
            "sigma_aff_corrected_change_pct": change("mean_sigma_aff_unbiased"),
            "sigma_aff_end": last["mean_sigma_aff"], "ff_synapses_end": last["synapses"],
            "lat_synapses_end": result["history"][-1]["lat"]["synapses"], "mean_rate_hz": float(np.mean(rates)),
            "last_rate_hz": rates[-1], "run_s": result["times_s"]["run"],
            "realtime_factor": result["realtime_factor"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="789,1,2,3")
    p.add_argument("--duration", type=float, default=60000.0, help="ms")
    p.add_argument("--metrics-interval", type=float, default=5000.0, help="ms")
    p.add_argument("--sims", default="sparsegpu,genn",
                   help="any of sparsegpu; genn (the reference code's GeNN model); genn-nestlike (the same "
                        "with a LIF that integrates the conductance within the step and STDP that depresses "
                        "before it transmits, as NEST and sparsegpu do)")
    p.add_argument("--genn-backend", default="single_threaded_cpu")
    p.add_argument("--out", default=None,
                   help="default benchmarks/results/topographic_genn.json (topographic_genn_<variant>.json for "
                        "the other variants)")
    p.add_argument("--variant", default="full", choices=["full", "stdp", "rewiring", "static"],
                   help="full model; STDP without rewiring; rewiring with static weights; or neither (the "
                        "neuron and synapse dynamics alone)")
    p.add_argument("--case", help=argparse.SUPPRESS)           # internal: one GeNN run, JSON to --out
    p.add_argument("--nestlike", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.out is None:
        suffix = "" if args.variant == "full" else f"_{args.variant}"
        args.out = os.path.join(BENCH_DIR, "results", f"topographic_genn{suffix}.json")
    if args.case == "genn":
        with tempfile.TemporaryDirectory() as workdir:
            result = run_genn(int(args.seeds), args.duration, args.metrics_interval, args.genn_backend, workdir,
                              args.nestlike, args.variant)
        with open(args.out, "w") as f:
            json.dump(result, f)
        return 0

    seeds = [int(s) for s in args.seeds.split(",")]
    sims = args.sims.split(",")
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for seed in seeds:
            for name in sims:
                if name == "sparsegpu":
                    results.append(run_sparsegpu(seed, args.duration, args.metrics_interval, workdir, args.variant))
                elif name in ("genn", "genn-nestlike"):
                    path = os.path.join(workdir, f"{name}_{seed}.json")
                    subprocess.run([sys.executable, os.path.abspath(__file__), "--case", "genn", "--seeds", str(seed),
                                    "--duration", str(args.duration), "--metrics-interval",
                                    str(args.metrics_interval), "--genn-backend", args.genn_backend,
                                    "--out", path, "--variant", args.variant]
                                   + (["--nestlike"] if name == "genn-nestlike" else []),
                                   check=True)
                    with open(path) as f:
                        results.append(json.load(f))
                else:
                    raise ValueError(f"--sims: {name!r} is not allowed; use sparsegpu, genn, genn-nestlike")
                s = summary(results[-1])
                print(f"{name} seed {seed}: centre {s['centre_error_change_pct']:+.1f} %, sigma_aff "
                      f"{s['sigma_aff_change_pct']:+.1f} % (corrected {s['sigma_aff_corrected_change_pct']:+.1f} %), "
                      f"{s['mean_rate_hz']:.1f} Hz, run {s['run_s']:.1f} s", flush=True)
    rows = [summary(r) for r in results]
    print_table(["simulator", "seed", "centre %", "sigma_aff %", "corrected %", "ff syn", "lat syn", "rate Hz",
                 "last 5 s Hz", "run s", "realtime"],
                [[r["simulator"], r["seed"], f"{r['centre_error_change_pct']:+.1f}",
                  f"{r['sigma_aff_change_pct']:+.1f}",
                  f"{r['sigma_aff_corrected_change_pct']:+.1f}", r["ff_synapses_end"], r["lat_synapses_end"],
                  f"{r['mean_rate_hz']:.1f}", f"{r['last_rate_hz']:.1f}", f"{r['run_s']:.1f}",
                  f"{r['realtime_factor']:.3f}"] for r in rows])
    write_json(args.out, {"metadata": metadata(), "duration_ms": args.duration, "summary": rows, "runs": results})
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
