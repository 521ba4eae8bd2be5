"""A small balanced network driven by Poisson input, runnable on any PyNN backend.

    python examples/simple_network.py sparsegpu      # or: nest
    python examples/simple_network.py sparsegpu --plot out/simple_network.png

Prints firing rates, build and simulation times, and (for sparsegpu) which array path and engine ran.
"""

import argparse
import importlib
import time

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("simulator", help="PyNN backend name: sparsegpu, nest, ...")
    parser.add_argument("--n", type=int, default=1000, help="number of excitatory+inhibitory neurons")
    parser.add_argument("--duration", type=float, default=1000.0, help="simulated time (ms)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--plot", default=None, help="write a raster plot to this PNG file")
    args = parser.parse_args()

    sim = importlib.import_module(f"pyNN.{args.simulator}")
    t0 = time.perf_counter()
    sim.setup(timestep=0.1, min_delay=0.1)
    rng = sim.NumpyRNG(seed=args.seed)
    n_exc = int(0.8 * args.n)
    n_inh = args.n - n_exc
    cell = sim.IF_curr_exp(tau_m=20.0, tau_syn_E=5.0, tau_syn_I=5.0, v_thresh=-50.0, v_reset=-60.0,
                           v_rest=-60.0, tau_refrac=2.0)
    exc = sim.Population(n_exc, cell, label="excitatory")
    inh = sim.Population(n_inh, cell, label="inhibitory")
    noise = sim.Population(200, sim.SpikeSourcePoisson(rate=20.0), label="input")
    for pop in (exc, inh):
        pop.initialize(v=sim.RandomDistribution("uniform", low=-60.0, high=-50.0, rng=rng))
    connect = sim.FixedProbabilityConnector(0.05, rng=rng)
    sim.Projection(exc, exc, connect, sim.StaticSynapse(weight=0.25, delay=1.5), receptor_type="excitatory")
    sim.Projection(exc, inh, connect, sim.StaticSynapse(weight=0.25, delay=1.5), receptor_type="excitatory")
    sim.Projection(inh, exc, connect, sim.StaticSynapse(weight=-1.0, delay=0.8), receptor_type="inhibitory")
    sim.Projection(inh, inh, connect, sim.StaticSynapse(weight=-1.0, delay=0.8), receptor_type="inhibitory")
    sim.Projection(noise, exc, sim.FixedProbabilityConnector(0.1, rng=rng),
                   sim.StaticSynapse(weight=0.6, delay=1.0), receptor_type="excitatory")
    sim.Projection(noise, inh, sim.FixedProbabilityConnector(0.1, rng=rng),
                   sim.StaticSynapse(weight=0.6, delay=1.0), receptor_type="excitatory")
    exc.record("spikes")
    inh.record("spikes")
    exc[:5].record("v")
    t_build = time.perf_counter() - t0

    t1 = time.perf_counter()
    sim.run(args.duration)
    t_sim = time.perf_counter() - t1

    seconds = args.duration / 1000.0
    exc_data = exc.get_data().segments[0]
    inh_data = inh.get_data().segments[0]
    rate_e = sum(len(st) for st in exc_data.spiketrains) / n_exc / seconds
    rate_i = sum(len(st) for st in inh_data.spiketrains) / n_inh / seconds
    print(f"simulator       {args.simulator}")
    if hasattr(sim, "backend_info"):
        info = sim.backend_info()
        print(f"array path      {info['backend']} ({info['device']}, {info['precision']})")
        print(f"engine          {info['engine']}")
    print(f"neurons         {args.n} (+200 Poisson inputs)")
    print(f"rate exc / inh  {rate_e:.2f} Hz / {rate_i:.2f} Hz")
    print(f"build time      {t_build:.2f} s")
    print(f"simulation time {t_sim:.2f} s for {args.duration:.0f} ms")

    if args.plot:
        import os

        import matplotlib
        matplotlib.use("Agg")
        from pyNN.utility.plotting import Figure, Panel
        os.makedirs(os.path.dirname(args.plot) or ".", exist_ok=True)
        # PyNN's Panel hides the tick labels of an axis unless asked: show them on both y axes
        Figure(Panel(exc_data.spiketrains[:200], markersize=1, ylabel="excitatory", yticks=True),
               Panel(exc_data.filter(name="v")[0], ylabel="v (mV)", xlabel="time (ms)", xticks=True,
                     yticks=True),
               title=f"simple_network on {args.simulator}").save(args.plot)
        print(f"figure          {args.plot}")
    sim.end()
    return np.array([rate_e, rate_i])


if __name__ == "__main__":
    main()
