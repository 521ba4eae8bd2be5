"""Sparse spiking classifiers trained with e-prop: dense vs static sparse vs DEEP R (rewired sparse).

    python examples/deep_r_classifier.py sparsegpu [--task digits|shd-synthetic|shd FILE] [--density 0.1]
        [--hidden 128] [--epochs 10] [--batch 32] [--lr 0.003] [--l1 1e-5] [--temperature 0]
        [--models dense,static,deep_r] [--seed 1] [--train-samples N] [--test-samples N] [--out DIR]
        [--no-figures]
    python examples/deep_r_classifier.py sparsegpu --quick      # a check that finishes in seconds

Run time: the default run (digits, 10 epochs, three models) takes about 3 minutes on a 2-core CPU (compiled
CPU path, one thread), three quarters of it the dense model (13 s per epoch, against 2 s for a sparse one).
--quick trains the same three networks for 2 epochs on 320 training and 80 test samples (about 10 s; the
accuracies are then far below the full run's) and writes to deep_r_classifier_output/quick unless --out is
given; options given explicitly override the quick values. Results of the full run: docs/eprop_training.md.

The network (built with PyNN Populations and Projections, trained by sim.EpropTrainer):
    input (one SpikeSourceArray per channel) -> hidden (EpropALIF, recurrent) -> readout (LeakyIntegratorReadout,
    one per class); every delay is one time step (1 ms). The class is the readout with the largest sum.
Models:
    dense    all-to-all input and recurrent projections
    static   FixedProbabilityConnector(density) for input and recurrent, connectivity fixed
    deep_r   the same start, rewired by DEEP R after every batch (sim.StructuralPlasticityMechanism(
             rewiring=sim.DeepR(...), weight_dynamics=sim.EpropSynapse(...))), row capacity twice the longest
             initial row (capped at the number of targets); the number of synapses stays constant
Readout projections are all-to-all in every model.

Tasks: "digits" (scikit-learn's 8x8 digits, latency-coded: one spike per pixel, brighter earlier, within
20 ms of a 30 ms sample; 80/20 train/test split; no download), "shd-synthetic" (SHD-shaped random data:
700 channels, 20 classes, 1 s; for timing, not accuracy) or "shd FILE" (a Spiking Heidelberg Digits HDF5
file; its test split is read from FILE with "train" replaced by "test" when that exists).

Writes DIR/deep_r_classifier.json (histories, test accuracies, synapse counts, rewiring counts, timings)
and, unless --no-figures, accuracy curves, DEEP R rewiring counts per epoch and connectivity figures.
"""

import argparse
import importlib
import json
import os
import sys
import time

import numpy as np


def build_classifier(sim, n_in, n_hidden, n_out, kind, density=1.0, l1=0.0, temperature=0.0, seed=1,
                     alif=True, c_reg=0.0, f_target=10.0, capacity_factor=2.0):
    """Populations and projections of one classifier; returns (input, hidden, readout, p_in, p_rec, p_out).
    kind: "dense", "static" or "deep_r". Weights: N(0, 1/sqrt(fan-in)) scaled for a threshold of 0.6."""
    rng = sim.NumpyRNG(seed=seed)
    inp = sim.Population(n_in, sim.SpikeSourceArray(), label="input")
    cell = sim.EpropALIF(tau_refrac=1.0) if alif else sim.EpropLIF(tau_refrac=1.0)
    hidden = sim.Population(n_hidden, cell, label="hidden")
    readout = sim.Population(n_out, sim.LeakyIntegratorReadout(), label="readout")
    p = 1.0 if kind == "dense" else float(density)
    w_in = sim.RandomDistribution("normal", (0.0, 1.0 / np.sqrt(max(n_in * p, 1.0))), rng=rng)
    w_rec = sim.RandomDistribution("normal", (0.0, 0.5 / np.sqrt(max(n_hidden * p, 1.0))), rng=rng)
    w_out = sim.RandomDistribution("normal", (0.0, 1.0 / np.sqrt(n_hidden)), rng=rng)

    def synapse(weight, n_post):
        eprop = sim.EpropSynapse(weight=weight, delay=1.0, c_reg=c_reg, f_target=f_target)
        if kind != "deep_r":
            return eprop, {}
        return (sim.StructuralPlasticityMechanism(rewiring=sim.DeepR(l1=l1, temperature=temperature),
                                                  weight_dynamics=eprop, spare_fraction=capacity_factor - 1.0),
                {})

    def connector(self_ok):
        if kind == "dense":
            return sim.AllToAllConnector(allow_self_connections=self_ok)
        return sim.FixedProbabilityConnector(p, allow_self_connections=self_ok, rng=rng)

    syn_in, opts_in = synapse(w_in, n_hidden)
    p_in = sim.Projection(inp, hidden, connector(True), syn_in, label="input", **opts_in)
    syn_rec, opts_rec = synapse(w_rec, n_hidden)
    p_rec = sim.Projection(hidden, hidden, connector(True), syn_rec, label="recurrent", **opts_rec)
    p_out = sim.Projection(hidden, readout, sim.AllToAllConnector(),
                           sim.EpropSynapse(weight=w_out, delay=1.0), label="readout")
    return inp, hidden, readout, p_in, p_rec, p_out


def load_task(task, shd_file=None, seed=0):
    from pynn_sparsegpu import datasets
    if task == "digits":
        data = datasets.load_digits_spikes(coding="latency", t_max=20.0, duration_ms=30.0)
        return data.train_test(0.2, seed=seed)
    if task == "shd-synthetic":
        train = datasets.make_shd_like_synthetic(256, seed=seed)
        return train, datasets.make_shd_like_synthetic(64, seed=seed + 1)
    if task == "shd":
        train = datasets.load_shd(shd_file)
        test_file = shd_file.replace("train", "test")
        test = datasets.load_shd(test_file) if test_file != shd_file and os.path.exists(test_file) else None
        return (train, test) if test is not None else train.train_test(0.2, seed=seed)
    raise SystemExit(f"unknown task {task!r}")


def train_model(sim, kind, train, test, args):
    sim.setup(timestep=1.0, min_delay=1.0)
    _, _, _, p_in, p_rec, p_out = build_classifier(
        sim, train.n_channels, args.hidden, train.n_classes, kind, args.density, args.l1, args.temperature,
        seed=args.seed)
    trainer = sim.EpropTrainer(p_in, p_out, recurrent_projection=p_rec, optimiser=sim.Adam(args.lr),
                               batch_size=args.batch, seed=args.seed)
    start = {name: len(prj) for name, prj in (("input", p_in), ("recurrent", p_rec))}
    t0 = time.perf_counter()
    history = trainer.fit(train, epochs=args.epochs, validation=test, progress=not args.quiet)
    wall = time.perf_counter() - t0
    final = trainer.evaluate(test)
    pre, post, _, _ = p_in._coo()
    result = {"kind": kind, "history": history, "test_accuracy": final["accuracy"], "test_loss": final["loss"],
              "synapses_start": start, "synapses_end": {"input": len(p_in), "recurrent": len(p_rec)},
              "train_seconds": wall, "seconds_per_epoch": float(np.mean(history["time"])),
              "input_in_degree": np.bincount(post, minlength=args.hidden).tolist(),
              "input_out_degree": np.bincount(pre, minlength=train.n_channels).tolist()}
    if kind == "deep_r":
        result["rewiring_totals"] = {"input": p_in.rewiring_counts(), "recurrent": p_rec.rewiring_counts()}
    sim.end()
    return result


MODEL_COLOURS = {"dense": "C0", "static": "C1", "deep_r": "C2"}   # the same colour for a model in every figure

QUICK = {"epochs": 2, "hidden": 128, "train_samples": 320, "test_samples": 80,
         "out": os.path.join("deep_r_classifier_output", "quick")}


def figures(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    colour = {kind: MODEL_COLOURS.get(kind, f"C{3 + i}") for i, kind in enumerate(results)}   # one per model
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for kind, r in results.items():
        h = r["history"]
        ax[0].plot(h["epoch"], h["accuracy"], color=colour[kind], marker="o", label=f"{kind} (train)")
        ax[0].plot(h["epoch"], h["val_accuracy"], color=colour[kind], ls="--", marker="s", mfc="none",
                   label=f"{kind} (test)")
        ax[1].plot(h["epoch"], h["loss"], color=colour[kind], label=kind)
    ax[0].set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax[1].set(xlabel="epoch", ylabel="cross-entropy per step", title="training loss")
    ax[0].legend(fontsize=7)
    ax[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "accuracy.png"), dpi=120)
    if "deep_r" in results:
        h = results["deep_r"]["history"]
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in ("input", "recurrent"):
            ax.plot(h["epoch"], [e[name]["formed"] for e in h["rewiring"]], marker="o", label=f"{name}: rewired")
        ax.set(xlabel="epoch", ylabel="synapses made dormant and replaced", title="DEEP R rewiring per epoch")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(out, "rewiring.png"), dpi=120)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for kind, r in results.items():
        if kind == "dense":
            continue
        ax[0].hist(r["input_in_degree"], bins=20, alpha=0.6, color=colour[kind], label=kind)
        ax[1].hist(r["input_out_degree"], bins=20, alpha=0.6, color=colour[kind], label=kind)
    ax[0].set(xlabel="input synapses per hidden neuron", ylabel="neurons", title="in-degree after training")
    ax[1].set(xlabel="synapses per input channel", ylabel="channels", title="out-degree after training")
    ax[0].legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "connectivity.png"), dpi=120)
    sparse = [kind for kind in ("static", "deep_r") if kind in results]
    if sparse and len(results[sparse[0]]["input_out_degree"]) == 64:      # digits: synapses per pixel
        fig, ax = plt.subplots(1, len(sparse), figsize=(4 * len(sparse), 3.6), squeeze=False)
        for a, kind in zip(ax[0], sparse):
            image = a.imshow(np.reshape(results[kind]["input_out_degree"], (8, 8)), cmap="viridis")
            a.set(title=f"{kind}: input synapses per pixel", xticks=[], yticks=[])
            fig.colorbar(image, ax=a)
        fig.tight_layout()
        fig.savefig(os.path.join(out, "synapses_per_pixel.png"), dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("simulator")
    parser.add_argument("--task", default="digits", choices=["digits", "shd-synthetic", "shd"])
    parser.add_argument("--shd-file")
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--hidden", type=int, default=None, help="hidden neurons (default 128)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default 10; --quick: 2)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--l1", type=float, default=1e-5)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--models", default="dense,static,deep_r")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--train-samples", type=int, default=None,
                        help="train on a stratified subset of this many samples (default all; --quick: 320)")
    parser.add_argument("--test-samples", type=int, default=None,
                        help="test on a stratified subset of this many samples (default all; --quick: 80)")
    parser.add_argument("--out", default=None, help="output directory (default deep_r_classifier_output; "
                                                     "--quick: deep_r_classifier_output/quick)")
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="a short check: 2 epochs on 320 training and 80 test samples")
    args = parser.parse_args(argv)
    defaults = dict(QUICK) if args.quick else {"epochs": 10, "hidden": 128, "out": "deep_r_classifier_output"}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("train_samples", "test_samples"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.simulator != "sparsegpu":
        raise SystemExit(f"training needs the sparsegpu backend (e-prop and DEEP R); {args.simulator!r} can run "
                         "the trained network but not train it")
    sim = importlib.import_module("pyNN.sparsegpu")
    os.makedirs(args.out, exist_ok=True)
    train, test = load_task(args.task, args.shd_file)
    train, test = (data if n is None or n >= len(data) else data.split(n / len(data), seed=args.seed)[1]
                   for data, n in ((train, args.train_samples), (test, args.test_samples)))
    print(f"task {args.task}: {len(train)} training and {len(test)} test samples, {train.n_channels} channels, "
          f"{train.n_classes} classes, {train.duration_ms:g} ms; hidden {args.hidden}, density {args.density}")
    results = {}
    for kind in args.models.split(","):
        results[kind] = train_model(sim, kind, train, test, args)
        r = results[kind]
        print(f"{kind:7s} test accuracy {r['test_accuracy']:.4f}  synapses {r['synapses_end']}  "
              f"{r['seconds_per_epoch']:.1f} s/epoch")
    summary = {"args": vars(args), "backend": sim.backend_info() if hasattr(sim, "backend_info") else None,
               "results": results}
    with open(os.path.join(args.out, "deep_r_classifier.json"), "w") as f:
        json.dump(summary, f, indent=1, default=float)
    if not args.no_figures:
        figures(results, args.out)
    print("\n model    test acc  s/epoch  synapses (in, rec)")
    for kind, r in results.items():
        print(f" {kind:7s}  {r['test_accuracy']:.4f}   {r['seconds_per_epoch']:7.1f}  "
              f"{r['synapses_end']['input']}, {r['synapses_end']['recurrent']}")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
