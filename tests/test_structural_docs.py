"""The user-defined rewiring rules of docs/structural_plasticity.md run, as written there, on both array paths."""

import pathlib
import re

import numpy as np
import pytest

from conftest import GPU

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "structural_plasticity.md"


def _worked_example():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    source = next(b for b in blocks if "class LeftwardFormation" in b)
    namespace = {}
    exec(compile(source, str(DOC), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("backend", ["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def test_documented_user_rules_run_and_hold(backend):
    if backend == "cupy" and not GPU:
        pytest.skip("no usable CUDA device")
    example = _worked_example()
    connections, counts, events = example["run_directed_map"](backend)
    labels = np.asarray(events.labels)
    pre = events.array_annotations["pre"]
    post = events.array_annotations["post"]
    formed = labels == "formed"
    # Line(dx=1): position = index; the rule forms only from sources strictly left of the target
    assert formed.sum() == counts["formations"] > 50
    assert np.all(post[formed] > pre[formed])
    # the targets never fire, so every target is quiet: the weak (new) synapses are eliminated at p = 0.5
    # per attempt on their pair, the strong (initial) ones never; so each eliminated pair was formed before
    assert (~formed).sum() == counts["eliminations"] > 0
    t = events.times.rescale("ms").magnitude
    for k in np.nonzero(~formed)[0]:
        earlier = formed & (pre == pre[k]) & (post == post[k]) & (t <= t[k])
        assert earlier.any(), f"eliminated ({pre[k]}, {post[k]}) at {t[k]} ms was never formed: a strong synapse"
    assert len(connections) == counts["formations"] - counts["eliminations"] + _initial_size(example, backend)


def _initial_size(example, backend):
    """Synapses the connector made (the same seed gives the same initial connectivity)."""
    sim = __import__("pyNN.sparsegpu", fromlist=["setup"])
    from pyNN.space import Line
    sim.setup(timestep=0.1, rng_seed=7, backend=backend)
    a = sim.Population(60, sim.SpikeSourcePoisson(rate=20.0), structure=Line(dx=1.0))
    b = sim.Population(60, sim.IF_curr_exp(), structure=Line(dx=1.0))
    mechanism = sim.StructuralPlasticityMechanism(formation=example["LeftwardFormation"](), f_rew=0.0,
                                                  weight=0.4, row_capacity=30)
    n = len(sim.Projection(a, b, sim.FixedProbabilityConnector(0.05), mechanism, receptor_type="excitatory"))
    sim.end()
    return n
