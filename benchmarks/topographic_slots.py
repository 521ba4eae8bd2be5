"""Variant of examples/topographic_map.py with Bamford's (and sPyNNaker's) slot-based rewiring, written as a
user PartnerSelection: a model experiment for docs/topographic_map.md, not a speed benchmark.

    python benchmarks/topographic_slots.py [--s-max 32] [--duration 60000] [--seed 789] [--json FILE]

In Bamford et al. (2010) and sPyNNaker a rewiring attempt draws a target and one of its s_max synapse slots,
shared by the feed-forward and the lateral projection: a slot holding a synapse is tested for elimination
(p 0.0245 below the weight threshold, 1.36e-4 above, unscaled), an empty slot for formation with a partner
drawn among all the target's possible sources (both layers). The GeNN paper code, which the example follows,
instead draws (source, target) pairs with no cap and scales the elimination probabilities by 50.

Here each projection keeps its own stream of 10 kHz attempts with uniformly drawn targets (as the engine
does), and `SlotSelection` turns an attempt into Bamford's: it draws a slot among s_max; a slot holding one
of this projection's synapses proposes that synapse's source (the engine then applies the elimination rule);
a slot holding one of the other projection's synapses proposes nothing (that event belongs to the other
stream); an empty slot proposes a uniformly drawn source half of the time (the half where the partner falls
in this projection's source layer), nothing otherwise. Per event type this gives the rates of one shared
10 kHz stream. The rule reads the engine's ragged rows (`c._r.group.rows`, an internal), loops in Python
over the <= 10 attempts of a batch, and is meant for this experiment only.
"""

import argparse
import os
import sys

import numpy as np

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
    from pynn_sparsegpu.engine.structural import PartnerSelection

    class SlotSelection(PartnerSelection):
        def __init__(self, s_max):
            self.s_max, self.other = s_max, None           # other: the engine group sharing the slots

        def choose(self, c, n):
            xp, r = c.xp, c._r
            rows = r.group.rows
            post_e = r.post_ix[c.post]

            def in_degree(group):
                g_rows = group.rows
                return xp.bincount(g_rows.ind[g_rows.synapse_slots()].astype(xp.int64), minlength=group.post.n)

            d_this = in_degree(r.group)[post_e]
            d_other = in_degree(self.other)[post_e]
            slot = c.rng.integers(0, self.s_max, n)
            pre = xp.full(n, -1, dtype=xp.int64)
            valid = xp.arange(rows.capacity)[None, :] < rows.row_length[:, None]
            for k in np.nonzero(slot < d_this)[0]:              # the slot's synapse: its source
                sources, _ = xp.nonzero((rows.ind == post_e[k]) & valid)
                pre[k] = int(np.searchsorted(r.pre_ix, sources[slot[k]]))
            empty = slot >= d_this + d_other
            pick = empty & (c.rng.random(n) < 0.5)
            pre[pick] = c.rng.integers(0, c.n_pre, int(pick.sum()))
            return pre

    selections = []
    example_synapse = topo.plastic_synapse

    def plastic_synapse(sim_, structural, *a, **k):
        syn = example_synapse(sim_, structural, *a, **k)
        selection = SlotSelection(args.s_max)
        syn.partner_selection = selection
        syn.elimination = sim_.RandomByWeightElimination(topo.W_THRESHOLD, 0.0245, 1.36e-4)
        selections.append(selection)
        return syn

    example_build = topo.build

    def build(*a, **k):
        net = example_build(*a, **k)
        ff, lat = (next(iter(net[name]._groups.values())) for name in ("ff", "lat"))
        selections[0].other, selections[1].other = lat, ff
        return net

    topo.plastic_synapse, topo.build = plastic_synapse, build
    json_path = args.json or os.path.join(REPO_ROOT, "benchmarks", "results", "topographic_variants",
                                          f"bamford_slots_smax{args.s_max}_{args.duration / 1000:g}s.json")
    return topo.main(["sparsegpu", "--no-figures", "--duration", str(args.duration), "--seed", str(args.seed),
                      "--out", os.path.dirname(json_path), "--json", json_path])


if __name__ == "__main__":
    sys.exit(main())
