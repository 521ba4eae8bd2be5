"""Topographic map formation by synaptic rewiring and STDP (Bamford et al. 2010; Bogdan et al. 2018; the GeNN
structural-plasticity code of Knight et al. 2025), on any PyNN backend.

    python examples/topographic_map.py sparsegpu [--scale 1] [--duration 60000] [--seed 789]
                                                 [--out DIR] [--no-figures] [--json FILE]
    python examples/topographic_map.py nest      # same network, STDP only (no rewiring, see below)

Run time of the default run (scale 1, 60 s simulated) on a 2-core CPU: about 5 s on sparsegpu's compiled CPU
path (2 s of it simulating), about 3 minutes on its NumPy path, about 1 minute on nest.

Two layers of (16 scale) x (16 scale) neurons on a periodic grid (unit spacing). The source layer fires
Poisson spikes at 5 Hz plus a Gaussian bump (peak 152.8 Hz, sigma 2 grid units, periodic) whose centre is
re-drawn every 20 ms; as in the GeNN code, for scale > 1 the 16 x 16 pattern is tiled over the scale x scale
blocks (every block sees a bump at the same relative place), so each neuron's input statistics do not depend
on the scale. The spike times are drawn here with NumPy (an inhomogeneous Poisson process, constant within
each 20 ms window, at most one spike per time step) and played by SpikeSourceArray, so every backend gets the
same input.

The target layer is IF_cond_exp. A feed-forward (source -> target) and a lateral (target -> target)
projection start from Gaussian connectivity without replacement (DistanceDependentProbabilityConnector,
p = p_peak exp(-d^2 / (2 sigma^2))) with every weight at g_max, and are plastic in two ways:
  * STDP, all-to-all pairing, additive, w in [0, g_max];
  * rewiring (sparsegpu's StructuralPlasticityMechanism): f_rew attempts per second per projection, in
    batches every 1 ms. An attempt picks a random (source, target) pair (RandomSelection, as the GeNN code:
    a uniformly random presynaptic row and a random target); an existing synapse is eliminated with
    p_elim_dep if its weight is below the threshold, p_elim_pot otherwise; a missing one is formed with the
    Gaussian probability of the initial connectivity (DistanceDependentFormation: the lateral parameters
    apply to the projection of a population onto itself) at weight g_max.

On a backend without StructuralPlasticityMechanism (e.g. nest) the same network runs with STDP only (a
plain STDPMechanism, the connectivity fixed after the start); the script says so and skips the rewiring
records. The map metrics are then those of STDP alone.

Map metrics (pynn_sparsegpu.analysis.receptive_field_metrics, Bamford et al. 2010): per target, the
weight-weighted circular-mean position of its feed-forward afferents (its receptive-field centre); the mean
periodic distance of the centres from the targets' own positions (centre error), and the mean weighted RMS
distance of the afferents from the centre (sigma_aff). Written with the counts, firing rates and timings to
a JSON file in --out, with figures (matplotlib, Agg) unless --no-figures.

Units: ms, mV, nF, uS (PyNN's). Parameters, results and the comparison with GeNN: docs/topographic_map.md.

References:
  Bamford, Murray & Willshaw (2010), Synaptic rewiring for topographic mapping and receptive field
    development, Neural Networks 23(4):517-527.
  Bogdan, Rowley, Rhodes & Furber (2018), Structural plasticity on the SpiNNaker many-core neuromorphic
    system, Front. Neurosci. 12:434, doi:10.3389/fnins.2018.00434.
  Knight, Senk & Nowotny (2025), A flexible framework for structural plasticity in GPU-accelerated sparse
    spiking neural networks, arXiv:2510.19764 (the GeNN code whose form of the model this follows).
"""

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

# --- parameters (docs/topographic_map.md; Bogdan et al. 2018 and the GeNN code, see the docstring) -------
SIDE = 16                     # neurons per side of one block; a layer is (SIDE scale)^2 neurons
DT = 0.1                      # ms
DURATION = 60000.0            # ms
SEED = 789

# input layer: Poisson with a moving Gaussian bump
F_BASE = 5.0                  # Hz
F_PEAK = 152.8                # Hz, added at the bump's centre
SIGMA_STIM = 2.0              # grid units (periodic within a 16 x 16 block)
T_STIM = 20.0                 # ms between re-draws of the bump's centre

# target layer
CELL = {"cm": 20.0,           # nF
        "tau_m": 20.0,        # ms
        "v_rest": -70.0, "v_reset": -70.0, "v_thresh": -54.0,   # mV
        "tau_refrac": 5.0,    # ms
        "tau_syn_E": 5.0,     # ms
        "e_rev_E": 0.0}       # mV (inhibitory parameters: PyNN defaults, unused)
V_INIT_MEAN, V_INIT_SD = -60.0, 5.0   # mV, initial membrane potential (as the GeNN code)

# connectivity
P_FF, SIGMA_FF = 0.16, 2.5    # feed-forward peak probability, sigma (grid units)
P_LAT, SIGMA_LAT = 1.0, 1.0   # lateral
LATERAL_SELF_CONNECTIONS = True   # the GeNN code's Gaussian initialiser and rewiring do not exclude i == j
ROW_CAPACITY = 64             # synapse slots per presynaptic row (GeNN: max row length 2 x 32)
G_MAX = 0.2                   # uS
G_INIT = 0.2                  # uS, initial weight and weight of a new synapse
DELAY = 0.1                   # ms (one time step: the GeNN code has no explicit delay)

# STDP (all-to-all pairing, additive)
TAU_PLUS, TAU_MINUS = 20.0, 64.0      # ms
STDP_DW_PLUS = 0.02           # uS per pair at zero lag: GeNN's aPlus (= Bogdan's 0.1 x g_max)
B_STDP = 1.2                  # depression/potentiation area ratio
# PyNN's AdditiveWeightDependence changes w by A_plus * w_max * trace (as NEST's stdp_synapse), GeNN's
# model by aPlus * trace: the same rule needs A_plus = aPlus / w_max.
A_PLUS = STDP_DW_PLUS / G_MAX                         # 0.1
A_MINUS = B_STDP * A_PLUS * TAU_PLUS / TAU_MINUS      # 0.0375 (x g_max = 0.0075 uS)

# rewiring
W_THRESHOLD = 0.1             # uS: depressed below, potentiated at or above
ELIM_SCALE = 50.0             # the GeNN code's factor (no in-degree cap, pair-based attempts)
P_ELIM_DEP = min(1.0, 0.0245 * ELIM_SCALE)            # 1.225 -> 1
P_ELIM_POT = min(1.0, 0.000136 * ELIM_SCALE)          # 0.0068
F_REW_PER_BLOCK = 10000.0     # Hz per projection per 16 x 16 block: f_rew = 10 kHz x scale^2
REWIRING_INTERVAL = 1.0       # ms
PARTNER = "random"            # "random" (GeNN, Bamford) or "last" (the last source to spike)

# pyNN.nest's SpikeSourceArray subtracts min_delay from the spike times, which must stay > 0 there: its
# input starts at 2 dt (on the others at dt; a spike drawn in the first step moves to the second)
EARLIEST_SPIKE = {"pyNN.nest": 2 * DT}

# recording and analysis
REWIRING_SAMPLE = 1000.0      # ms between rewiring count samples
METRICS_INTERVAL = 5000.0     # ms between map-metric snapshots (the run is split at these times)
DISTANCE_BIN = 0.5            # grid units


# --- input --------------------------------------------------------------------------------------------
def grid_positions(side):
    """(x, y) of each neuron of a Grid2D(dx=1, dy=1, fill_order='sequential') layer of side^2 neurons."""
    x, y = np.indices((side, side), dtype=float)
    return x.ravel(), y.ravel()


def input_rates(side, centres):
    """Rates (Hz), shape (len(centres), side^2): F_BASE plus the Gaussian bump around each centre (x, y),
    the distance periodic within each SIDE x SIDE block (the pattern is tiled over the blocks)."""
    x, y = grid_positions(side)
    dx = (x[None, :] - centres[:, :1]) % SIDE
    dy = (y[None, :] - centres[:, 1:]) % SIDE
    dx = np.minimum(dx, SIDE - dx)
    dy = np.minimum(dy, SIDE - dy)
    return F_BASE + F_PEAK * np.exp(-(dx ** 2 + dy ** 2) / (2.0 * SIGMA_STIM ** 2))


def input_spike_times(side, duration, seed, dt=DT, earliest=DT):
    """Per source neuron a sorted array of spike times (ms) on the time grid, and the bump centres.

    Within each T_STIM window the rates are constant; spike counts are Poisson(rate x window) and times
    uniform in the window, moved to the end of their time step (the first spike can come at dt); two
    spikes of one neuron in one step become one (a neuron model fires at most once per step); spikes
    before `earliest` (ms) are moved there. Centres, counts and times come from three streams drawn in
    time order, so a shorter run's input is the start of a longer one's."""
    rng_centre, rng_count, rng_time = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    n = side * side
    n_windows = int(np.ceil(duration / T_STIM))
    centres = rng_centre.integers(0, SIDE, size=(n_windows, 2)).astype(float)
    starts = np.arange(n_windows) * T_STIM
    lengths = np.minimum(starts + T_STIM, duration) - starts
    counts = rng_count.poisson(input_rates(side, centres) * (lengths[:, None] * 1e-3))   # (windows, n)
    window, neuron = np.nonzero(counts)                                                  # time order
    reps = counts[window, neuron]
    window, neuron = np.repeat(window, reps), np.repeat(neuron, reps)
    t = starts[window] + rng_time.random(window.size) * lengths[window]
    steps = np.floor(t / dt).astype(np.int64) + 1                                       # fire at the step's end
    steps = np.clip(steps, int(round(earliest / dt)), int(round(duration / dt)))
    key = np.unique(neuron.astype(np.int64) * (int(round(duration / dt)) + 2) + steps)  # sorted, one per step
    neuron, steps = key // (int(round(duration / dt)) + 2), key % (int(round(duration / dt)) + 2)
    bounds = np.searchsorted(neuron, np.arange(n + 1))
    times = np.round(steps * dt, 6)
    return [times[bounds[k]:bounds[k + 1]] for k in range(n)], centres


# --- the network ----------------------------------------------------------------------------------------
def has_rewiring(sim):
    return hasattr(sim, "StructuralPlasticityMechanism")


def plastic_synapse(sim, structural, partner=PARTNER, a_plus=A_PLUS, f_rew=None, stdp=True, b=B_STDP,
                    max_in_degree=None):
    """The synapse type of both projections: StructuralPlasticityMechanism where the backend has it (with
    or without STDP), otherwise STDPMechanism (or a StaticSynapse with stdp=False)."""
    timing = sim.SpikePairRule(tau_plus=TAU_PLUS, tau_minus=TAU_MINUS, A_plus=a_plus,
                               A_minus=b * a_plus * TAU_PLUS / TAU_MINUS)
    weight_dep = sim.AdditiveWeightDependence(w_min=0.0, w_max=G_MAX)
    if not structural:
        if not stdp:
            return sim.StaticSynapse(weight=G_INIT, delay=DELAY)
        return sim.STDPMechanism(timing_dependence=timing, weight_dependence=weight_dep, weight=G_INIT,
                                 delay=DELAY)
    selection = {"random": sim.RandomSelection, "last": sim.LastNeuronSelection}[partner]()
    return sim.StructuralPlasticityMechanism(
        formation=sim.DistanceDependentFormation(P_FF, SIGMA_FF, P_LAT, SIGMA_LAT),
        elimination=sim.RandomByWeightElimination(W_THRESHOLD, P_ELIM_DEP, P_ELIM_POT),
        partner_selection=selection,
        timing_dependence=timing if stdp else None, weight_dependence=weight_dep if stdp else None,
        f_rew=f_rew, rewiring_interval=REWIRING_INTERVAL, initial_weight=G_INIT, initial_delay=DELAY,
        row_capacity=ROW_CAPACITY, allow_self_connections=LATERAL_SELF_CONNECTIONS, weight=G_INIT, delay=DELAY,
        max_in_degree=max_in_degree)


def build(sim, scale=1, duration=DURATION, seed=SEED, partner=PARTNER, a_plus=A_PLUS, rewiring=True,
          stdp=True, record_spikes=True, b=B_STDP, max_in_degree=None):
    """Set up the simulator and build the network; returns a dict with the populations, projections and
    the time spent generating the input and building."""
    from pyNN.parameters import Sequence
    from pyNN.space import Grid2D, Space

    t0 = time.perf_counter()
    side = SIDE * scale
    earliest = EARLIEST_SPIKE.get(sim.__name__, DT)
    spike_times, centres = input_spike_times(side, duration, seed, earliest=earliest)
    t_input = time.perf_counter() - t0

    t1 = time.perf_counter()
    sim.setup(timestep=DT, min_delay=DT, rng_seed=seed)
    structural = rewiring and has_rewiring(sim)
    grid = Grid2D(aspect_ratio=1.0, dx=1.0, dy=1.0, x0=0.0, y0=0.0, fill_order="sequential")
    space = Space(periodic_boundaries=((-0.5, side - 0.5), (-0.5, side - 0.5), None))
    n = side * side
    source = sim.Population(n, sim.SpikeSourceArray(spike_times=[Sequence(t) for t in spike_times]),
                            structure=grid, label="source")
    target = sim.Population(n, sim.IF_cond_exp(**CELL), structure=grid, label="target")
    rng = sim.NumpyRNG(seed=seed)
    target.initialize(v=sim.RandomDistribution("normal", mu=V_INIT_MEAN, sigma=V_INIT_SD, rng=rng))
    f_rew = F_REW_PER_BLOCK * scale ** 2

    def gaussian(p, sigma, **kw):
        return sim.DistanceDependentProbabilityConnector(f"{p}*exp(-d*d/(2*{sigma}*{sigma}))", rng=rng, **kw)

    ff = sim.Projection(source, target, gaussian(P_FF, SIGMA_FF),
                        plastic_synapse(sim, structural, partner, a_plus, f_rew, stdp, b, max_in_degree),
                        space=space, receptor_type="excitatory", label="feed-forward")
    lat = sim.Projection(target, target, gaussian(P_LAT, SIGMA_LAT,
                                                  allow_self_connections=LATERAL_SELF_CONNECTIONS),
                         plastic_synapse(sim, structural, partner, a_plus, f_rew, stdp, b, max_in_degree),
                         space=space, receptor_type="excitatory", label="lateral")
    if structural:
        for prj in (ff, lat):
            prj.record_rewiring(sampling_interval=REWIRING_SAMPLE)
    if record_spikes:
        target.record("spikes")
    return {"sim": sim, "scale": scale, "side": side, "source": source, "target": target, "ff": ff,
            "lat": lat, "structural": structural, "f_rew": f_rew, "centres": centres,
            "n_input_spikes": int(sum(len(t) for t in spike_times)), "t_input": t_input,
            "t_build": time.perf_counter() - t1}


# --- measurements -------------------------------------------------------------------------------------
def snapshot(net, t_ms, with_profile=False):
    """Map metrics, sizes and degrees of both projections now."""
    from pynn_sparsegpu import analysis
    out = {"t_ms": float(t_ms)}
    for name in ("ff", "lat"):
        prj = net[name]
        rf = analysis.receptive_field_metrics(prj)
        bamford = analysis.bamford_metrics(prj)
        k_in, _ = analysis.degrees(prj)
        _, _, w = analysis.connections(prj)
        entry = {"mean_centre_error": rf["mean_centre_error"], "mean_sigma_aff": rf["mean_sigma_aff"],
                 "mean_sigma_aff_unbiased": rf["mean_sigma_aff_unbiased"], "mean_k_eff": rf["mean_k_eff"],
                 "bamford_centre_error": bamford["mean_centre_error"], "bamford_sigma_aff": bamford["mean_sigma_aff"],
                 "targets_without_afferents": rf["n_excluded"], "synapses": int(len(w)),
                 "mean_in_degree": float(k_in.mean()), "mean_weight": float(w.mean()) if len(w) else None,
                 "fraction_potentiated": float((w >= W_THRESHOLD).mean()) if len(w) else None}
        if with_profile:
            bins = np.arange(0.0, net["side"] / np.sqrt(2.0) + DISTANCE_BIN, DISTANCE_BIN)
            entry["profile"] = analysis.connectivity_vs_distance(prj, bins)
            entry["in_degree"] = k_in
            entry["rf"] = rf
        out[name] = entry
    return out


def rms_profile_width(profile):
    """sqrt(sum p(d) d^2 * pairs / sum p(d) * pairs): the RMS distance of a connection (pairs-weighted)."""
    c, pairs, p = profile["centres"], profile["pairs"], np.nan_to_num(profile["probability"])
    return float(np.sqrt((c ** 2 * p * pairs).sum() / max((p * pairs).sum(), 1e-300)))


def jsonable(value):
    """value with arrays as lists and non-finite floats as None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def change_pct(start, end):
    """Relative change from start to end in per cent: negative for a decrease (a map that refines lowers both
    the centre error and sigma_aff), as docs/topographic_map.md and benchmarks/topographic_genn.py write it."""
    return 100.0 * (end - start) / start if start else None


def spike_rate(target, t_from, t_to):
    """Mean firing rate (Hz) of the target layer in [t_from, t_to) ms, from the recorded spikes."""
    block = target.get_data("spikes", clear=False)
    trains = block.segments[-1].spiketrains
    n = sum(int(((np.asarray(st.magnitude) >= t_from) & (np.asarray(st.magnitude) < t_to)).sum()) for st in trains)
    return n / len(trains) / ((t_to - t_from) * 1e-3)


def rewiring_series(prj):
    """{name: (times s, values)} of the rewiring counts recorded on `prj`."""
    seg = prj.get_rewiring_data().segments[-1]
    return {s.name: (np.asarray(s.times.rescale("s")).ravel(), np.asarray(s).ravel()) for s in seg.analogsignals}


# --- figures ------------------------------------------------------------------------------------------
def figures(out_dir, prefix, first, last, history, series, structural):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    written = []

    def save(fig, name):
        path = os.path.join(out_dir, f"{prefix}_{name}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    t0, t1 = first["t_ms"] / 1e3, last["t_ms"] / 1e3
    # connection probability and mean weight against distance
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for col, (name, title, p_peak, sigma) in enumerate((("ff", "feed-forward", P_FF, SIGMA_FF),
                                                         ("lat", "lateral", P_LAT, SIGMA_LAT))):
        a, b = first[name]["profile"], last[name]["profile"]
        d = a["centres"]
        has = a["pairs"] > 0                      # distances on the grid leave some bins without pairs
        ax = axes[0, col]
        ax.plot(d[has], a["probability"][has], "o-", ms=3, label=f"t = {t0:g} s")
        ax.plot(d[has], b["probability"][has], "s-", ms=3, label=f"t = {t1:g} s")
        ax.plot(d, p_peak * np.exp(-d ** 2 / (2 * sigma ** 2)), "k:", lw=1, label="formation rule")
        ax.set_xlabel("distance (grid units)")
        ax.set_ylabel("connection probability")
        ax.set_title(f"{title}: RMS width {rms_profile_width(a):.2f} -> {rms_profile_width(b):.2f}")
        ax.legend(fontsize=8)
        ax = axes[1, col]
        wa, wb = np.isfinite(a["mean_weight"]), np.isfinite(b["mean_weight"])
        ax.plot(d[wa], a["mean_weight"][wa], "o-", ms=3, label=f"t = {t0:g} s")
        ax.plot(d[wb], b["mean_weight"][wb], "s-", ms=3, label=f"t = {t1:g} s")
        ax.axhline(W_THRESHOLD, color="k", ls=":", lw=1, label="elimination threshold")
        ax.set_ylim(-0.005, G_MAX * 1.05)
        ax.set_xlabel("distance (grid units)")
        ax.set_ylabel("mean weight (uS)")
        ax.legend(fontsize=8)
    save(fig, "connectivity_vs_distance")

    # in-degree distributions
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (name, title) in zip(axes, (("ff", "feed-forward"), ("lat", "lateral"))):
        ka, kb = first[name]["in_degree"], last[name]["in_degree"]
        edges = np.arange(0, max(ka.max(), kb.max()) + 2) - 0.5
        ax.hist(ka, edges, alpha=0.6, label=f"t = {t0:g} s (mean {ka.mean():.1f})")
        ax.hist(kb, edges, alpha=0.6, label=f"t = {t1:g} s (mean {kb.mean():.1f})")
        ax.set_xlabel("in-degree (synapses)")
        ax.set_ylabel("targets")
        ax.set_title(title)
        ax.legend(fontsize=8)
    save(fig, "in_degree")

    # map metrics over time
    t = np.array([h["t_ms"] for h in history]) / 1e3
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, label in ((axes[0], "mean_centre_error", "mean centre error (grid units)"),
                           (axes[1], "mean_sigma_aff", "mean sigma_aff (grid units)")):
        ax.plot(t, [h["ff"][key] for h in history], "o-", ms=3, label="feed-forward")
        ax.plot(t, [h["lat"][key] for h in history], "s-", ms=3, label="lateral")
        if key == "mean_sigma_aff":
            ax.plot(t, [h["ff"]["mean_sigma_aff_unbiased"] for h in history], "o--", ms=3, color="C0",
                    alpha=0.6, label="feed-forward, corrected for k_eff")
        ax.set_xlabel("time (s)")
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    save(fig, "map_metrics")

    # receptive-field centres: offset of each target's centre from its position
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    vmax = max(np.nanmax(first["ff"]["rf"]["centre_error"]), np.nanmax(last["ff"]["rf"]["centre_error"]))
    for ax, snap in zip(axes, (first, last)):
        rf = snap["ff"]["rf"]
        centre, err = rf["centre"], rf["centre_error"]
        side = int(round(np.sqrt(len(err))))
        x, y = grid_positions(side)
        off = centre[:, :2] - np.stack([x, y], axis=1)
        off -= side * np.round(off / side)
        ok = np.isfinite(err)
        ax.quiver(x[ok], y[ok], off[ok, 0], off[ok, 1], err[ok], angles="xy", scale_units="xy", scale=1,
                  cmap="viridis", clim=(0, vmax), width=0.004)
        ax.set_aspect("equal")
        ax.set_xlim(-1, side)
        ax.set_ylim(-1, side)
        ax.set_title(f"t = {snap['t_ms'] / 1e3:g} s: centre error {snap['ff']['mean_centre_error']:.2f}, "
                     f"sigma_aff {snap['ff']['mean_sigma_aff']:.2f}", fontsize=9)
    save(fig, "receptive_field_centres")

    if structural and series:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for name, title in (("ff", "feed-forward"), ("lat", "lateral")):
            s = series[name]
            tt, per = s["formations"][0], REWIRING_SAMPLE / 1e3
            axes[0].plot(tt, s["formations"][1] / per, label=f"{title} formations")
            axes[0].plot(tt, s["eliminations"][1] / per, "--", label=f"{title} eliminations")
            axes[1].plot(tt, s["size"][1], label=title)
        axes[0].set_xlabel("time (s)")
        axes[0].set_ylabel("events per second")
        axes[0].legend(fontsize=8)
        axes[1].set_xlabel("time (s)")
        axes[1].set_ylabel("synapses")
        axes[1].legend(fontsize=8)
        save(fig, "rewiring")
    return written


# --- main -----------------------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("simulator", help="PyNN backend below pyNN: sparsegpu, nest, ...")
    p.add_argument("--scale", type=int, default=1, help="layers of (16 scale)^2 neurons (default 1)")
    p.add_argument("--duration", type=float, default=DURATION, help=f"simulated ms (default {DURATION:g})")
    p.add_argument("--seed", type=int, default=SEED, help=f"seed of input, connectivity and engine ({SEED})")
    p.add_argument("--partner", choices=("random", "last"), default=PARTNER,
                   help=f"partner selection of the rewiring (default {PARTNER})")
    p.add_argument("--a-plus", type=float, default=A_PLUS,
                   help=f"PyNN A_plus of the additive STDP rule (default {A_PLUS:g} = {STDP_DW_PLUS} uS / g_max)")
    p.add_argument("--b", type=float, default=B_STDP,
                   help=f"STDP depression/potentiation area ratio B: A_minus = B A_plus tau_plus / tau_minus "
                        f"(default {B_STDP})")
    p.add_argument("--max-in-degree", type=int, default=None,
                   help="cap on each projection's synapses per target (Bamford's s_max, split between the "
                        "feed-forward and lateral projections; default: no cap, as the GeNN code)")
    p.add_argument("--no-rewiring", action="store_true", help="STDP only (fixed connectivity)")
    p.add_argument("--no-stdp", action="store_true", help="rewiring only (static weights)")
    p.add_argument("--metrics-interval", type=float, default=METRICS_INTERVAL,
                   help=f"ms between map-metric snapshots (default {METRICS_INTERVAL:g})")
    p.add_argument("--out", default="topographic_map_out", help="directory for figures and JSON")
    p.add_argument("--prefix", default=None, help="file name prefix (default topographic_<sim>_scale<N>)")
    p.add_argument("--json", default=None, help="JSON file (default OUT/PREFIX.json)")
    p.add_argument("--no-figures", action="store_true", help="write no figures")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    sim = importlib.import_module(f"pyNN.{args.simulator}")
    t_imported = time.perf_counter()
    if not has_rewiring(sim) and not args.no_rewiring:
        print(f"pyNN.{args.simulator} has no StructuralPlasticityMechanism: running the same network with "
              "STDP only (fixed connectivity, no rewiring records)")
    net = build(sim, args.scale, args.duration, args.seed, args.partner, args.a_plus,
                rewiring=not args.no_rewiring, stdp=not args.no_stdp, b=args.b, max_in_degree=args.max_in_degree)
    ff, lat, target = net["ff"], net["lat"], net["target"]
    print(f"{args.simulator}: scale {args.scale} ({net['side']}x{net['side']} per layer), "
          f"{net['n_input_spikes']} input spikes, {len(ff)} feed-forward + {len(lat)} lateral synapses, "
          f"rewiring {'on' if net['structural'] else 'off'} (f_rew {net['f_rew']:g} Hz per projection, "
          f"partner {args.partner}), STDP {'off' if args.no_stdp else f'on (A_plus {args.a_plus:g}, B {args.b:g})'}")

    t_analysis = 0.0
    ta = time.perf_counter()
    first = snapshot(net, 0.0, with_profile=True)
    t_analysis += time.perf_counter() - ta
    history = [first]
    t_run = 0.0
    t = 0.0
    while t < args.duration - 1e-9:
        chunk = min(args.metrics_interval, args.duration - t)
        tr = time.perf_counter()
        sim.run(chunk)
        t_run += time.perf_counter() - tr
        t_prev, t = t, t + chunk
        ta = time.perf_counter()
        snap = snapshot(net, t, with_profile=t >= args.duration - 1e-9)
        snap["rate_hz"] = spike_rate(target, t_prev, t)
        t_analysis += time.perf_counter() - ta
        history.append(snap)
        print(f"  t = {t / 1e3:6.1f} s  rate {snap['rate_hz']:6.2f} Hz  ff: {snap['ff']['synapses']:6d} syn, "
              f"centre error {snap['ff']['mean_centre_error']:.3f}, sigma_aff {snap['ff']['mean_sigma_aff']:.3f}, "
              f"potentiated {snap['ff']['fraction_potentiated']:.2f}  lat: {snap['lat']['synapses']:6d} syn  "
              f"[{t_run:.1f} s wall]", flush=True)
    last = history[-1]

    series, counts = {}, {}
    if net["structural"]:
        for name in ("ff", "lat"):
            series[name] = rewiring_series(net[name])
            counts[name] = net[name].rewiring_counts()

    def metric(name, key):
        a, b = first[name][key], last[name][key]
        return {"start": a, "end": b, "change_pct": change_pct(a, b)}

    seconds = args.duration / 1e3
    result = {
        "simulator": args.simulator, "scale": args.scale, "side": net["side"], "neurons_per_layer": net["side"] ** 2,
        "duration_ms": args.duration, "seed": args.seed, "rewiring": net["structural"],
        "stdp": not args.no_stdp, "partner_selection": args.partner, "max_in_degree": args.max_in_degree,
        "parameters": {"A_plus": args.a_plus, "A_minus": args.b * args.a_plus * TAU_PLUS / TAU_MINUS, "B": args.b,
                       "tau_plus": TAU_PLUS, "tau_minus": TAU_MINUS, "g_max": G_MAX, "g_init": G_INIT,
                       "p_ff": P_FF, "sigma_ff": SIGMA_FF, "p_lat": P_LAT, "sigma_lat": SIGMA_LAT,
                       "p_elim_dep": P_ELIM_DEP, "p_elim_pot": P_ELIM_POT, "w_threshold": W_THRESHOLD,
                       "f_rew_hz": net["f_rew"], "rewiring_interval_ms": REWIRING_INTERVAL,
                       "row_capacity": ROW_CAPACITY, "delay_ms": DELAY, "dt_ms": DT,
                       "lateral_self_connections": LATERAL_SELF_CONNECTIONS, "cell": CELL,
                       "input": {"f_base": F_BASE, "f_peak": F_PEAK, "sigma_stim": SIGMA_STIM, "t_stim": T_STIM}},
        "map_metrics": {
            name: {"centre_error": metric(name, "mean_centre_error"), "sigma_aff": metric(name, "mean_sigma_aff"),
                   "sigma_aff_unbiased": metric(name, "mean_sigma_aff_unbiased"),
                   "bamford_centre_error": metric(name, "bamford_centre_error"),
                   "bamford_sigma_aff": metric(name, "bamford_sigma_aff"),
                   "k_eff": metric(name, "mean_k_eff")} for name in ("ff", "lat")},
        "profile_rms_width": {name: {"start": rms_profile_width(first[name]["profile"]),
                                     "end": rms_profile_width(last[name]["profile"])} for name in ("ff", "lat")},
        "synapses": {name: {"start": first[name]["synapses"], "end": last[name]["synapses"]} for name in ("ff", "lat")},
        "profiles": {name: {when: {k: snap[name]["profile"][k] for k in
                                   ("centres", "pairs", "connected", "probability", "synapses", "mean_weight")}
                            for when, snap in (("start", first), ("end", last))} for name in ("ff", "lat")},
        "rewiring_counts": counts,
        "history": [{"t_ms": h["t_ms"], "rate_hz": h.get("rate_hz"),
                     **{f"{name}_{k}": h[name][k] for name in ("ff", "lat")
                        for k in ("mean_centre_error", "mean_sigma_aff", "mean_sigma_aff_unbiased",
                                  "bamford_centre_error", "bamford_sigma_aff",
                                  "mean_k_eff", "synapses", "mean_in_degree",
                                  "mean_weight", "fraction_potentiated", "targets_without_afferents")}}
                    for h in history],
        "mean_rate_hz": float(np.mean([h["rate_hz"] for h in history[1:]])) if len(history) > 1 else None,
        "input_spikes": net["n_input_spikes"],
        "times_s": {"import": t_imported - T_START, "input": net["t_input"], "build": net["t_build"],
                    "run": t_run, "analysis": t_analysis},
        "realtime_factor": t_run / seconds,
    }
    if hasattr(sim, "backend_info"):
        try:
            result["backend_info"] = sim.backend_info()
        except Exception as e:  # report, do not fail
            result["backend_info"] = {"error": repr(e)}
    prefix = args.prefix or f"topographic_{args.simulator}_scale{args.scale}"
    os.makedirs(args.out, exist_ok=True)
    if not args.no_figures:
        result["figures"] = figures(args.out, prefix, first, last, history, series, net["structural"])
    result["times_s"]["total"] = time.perf_counter() - T_START
    json_path = args.json or os.path.join(args.out, f"{prefix}.json")
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(jsonable(result), f, indent=2, default=str)
        f.write("\n")

    mm = result["map_metrics"]["ff"]
    print(f"\nfeed-forward map after {seconds:g} s (scale {args.scale}, {args.simulator}):")
    for key, label in (("centre_error", "mean centre error"), ("sigma_aff", "mean sigma_aff")):
        m = mm[key]
        print(f"  {label:18s} {m['start']:.3f} -> {m['end']:.3f}  ({m['change_pct']:+.1f} %)")
    for key, label in (("bamford_centre_error", "centre error"), ("bamford_sigma_aff", "sigma_aff")):
        m = mm[key]
        print(f"  (Bamford's computation: {label} {m['start']:.3f} -> {m['end']:.3f}, {m['change_pct']:+.1f} %)")
    m = mm["sigma_aff_unbiased"]
    print(f"  (sigma_aff corrected for the number of afferents {m['start']:.3f} -> {m['end']:.3f}, "
          f"{m['change_pct']:+.1f} %; effective afferents {mm['k_eff']['start']:.1f} -> {mm['k_eff']['end']:.1f})")
    w = result["profile_rms_width"]["ff"]
    print(f"  connection-profile RMS width {w['start']:.3f} -> {w['end']:.3f}")
    print(f"  synapses {result['synapses']['ff']['start']} -> {result['synapses']['ff']['end']}, "
          f"mean target rate {result['mean_rate_hz']:.2f} Hz")
    for name, c in counts.items():
        print(f"  rewiring {name}: {c}")
    print(f"  wall time: run {t_run:.1f} s for {seconds:g} s simulated (realtime factor "
          f"{result['realtime_factor']:.3f}), build {net['t_build']:.1f} s, input {net['t_input']:.1f} s, "
          f"analysis {t_analysis:.1f} s")
    print(f"results written to {json_path}")
    if hasattr(sim, "end"):
        sim.end()
    return 0


if __name__ == "__main__":
    sys.exit(main())
