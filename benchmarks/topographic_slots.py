"""Variant of examples/topographic_map.py with Bamford's (and sPyNNaker's) slot-based rewiring, through the public
`sim.SlotSelection`: a model experiment for docs/topographic_map.md, not a speed benchmark.

    python benchmarks/topographic_slots.py [--s-max 32] [--duration 60000] [--seed 789] [--json FILE]

In Bamford et al. (2010) and sPyNNaker a rewiring attempt draws a target and one of its s_max synapse slots,
shared by the feed-forward and the lateral projection: a slot holding a synapse is tested for elimination
(p 0.0245 below the weight threshold, 1.36e-4 above, unscaled), an empty slot for formation with a partner
drawn among all the target's possible sources (both layers). The GeNN paper code, which the example follows,
instead draws (source, target) pairs with no cap and scales the elimination probabilities by 50.

Here both projections get one `sim.SlotSelection(s_max)` object, so they share each target's slots (see
docs/structural_plasticity.md, "Bamford's slots"): each projection keeps its own stream of 10 kHz attempts,
and per event type this gives the rates of one shared 10 kHz stream. Everything else is the example's network
(STDP, formation rule, input, recording); the rewiring runs on the reference path (SlotSelection has no
compiled kernel).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_common import REPO_ROOT, load_example  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--s-max", type=int, default=32, help="synapse slots per target, shared by both projections")
    p.add_argument("--duration", type=float, default=60000.0, help="ms")
    p.add_argument("--seed", type=int, default=789)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    topo = load_example("topographic_map")
    slots = []                              # the one SlotSelection both projections share

    def plastic_synapse(sim_, structural, partner, a_plus, f_rew, stdp=True, b=topo.B_STDP, max_in_degree=None):
        """The example's synapse type (its argument `partner` is replaced by the slots) with Bamford's slots
        and unscaled elimination probabilities."""
        if not slots:
            slots.append(sim_.SlotSelection(s_max=args.s_max))
        selection = slots[0]
        timing = sim_.SpikePairRule(tau_plus=topo.TAU_PLUS, tau_minus=topo.TAU_MINUS, A_plus=a_plus,
                                    A_minus=b * a_plus * topo.TAU_PLUS / topo.TAU_MINUS)
        return sim_.StructuralPlasticityMechanism(
            formation=sim_.DistanceDependentFormation(topo.P_FF, topo.SIGMA_FF, topo.P_LAT, topo.SIGMA_LAT),
            elimination=sim_.RandomByWeightElimination(topo.W_THRESHOLD, 0.0245, 1.36e-4),
            partner_selection=selection,
            timing_dependence=timing if stdp else None,
            weight_dependence=sim_.AdditiveWeightDependence(w_min=0.0, w_max=topo.G_MAX) if stdp else None,
            f_rew=f_rew, rewiring_interval=topo.REWIRING_INTERVAL, initial_weight=topo.G_INIT,
            initial_delay=topo.DELAY, row_capacity=topo.ROW_CAPACITY,
            allow_self_connections=topo.LATERAL_SELF_CONNECTIONS, weight=topo.G_INIT, delay=topo.DELAY,
            max_in_degree=max_in_degree)

    topo.plastic_synapse = plastic_synapse
    json_path = args.json or os.path.join(REPO_ROOT, "benchmarks", "results", "topographic_variants",
                                          f"bamford_slots_smax{args.s_max}_{args.duration / 1000:g}s.json")
    return topo.main(["sparsegpu", "--no-figures", "--duration", str(args.duration), "--seed", str(args.seed),
                      "--out", os.path.dirname(json_path), "--json", json_path])


if __name__ == "__main__":
    sys.exit(main())
