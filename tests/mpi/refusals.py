"""What runs in one process only is refused under mpiexec with an error that names it; rank 0 writes the
messages to a pickle file (tests/test_mpi.py)."""

import pickle
import sys
import warnings

import pyNN.sparsegpu as sim

out = sys.argv[1]
messages = {}


def attempt(name, build):
    try:
        build()
        sim.run(1.0)
        messages[name] = None
    except Exception as err:          # noqa: BLE001 (the test checks type and message)
        messages[name] = (type(err).__name__, str(err))
    sim.end()


def event_engine():
    sim.setup(timestep=0.1, engine="event")
    sim.Population(4, sim.IF_curr_delta(i_offset=1.0))


def reference_path():
    sim.setup(timestep=0.1, backend="numpy")
    sim.Population(4, sim.IF_curr_exp())


def trainer():
    sim.setup(timestep=1.0, spike_precision="on_grid", backend="cpu")
    inp = sim.Population(4, sim.SpikeSourceArray())
    hidden = sim.Population(4, sim.EpropALIF(tau_refrac=1.0))
    out_ = sim.Population(2, sim.LeakyIntegratorReadout())
    p_in = sim.Projection(inp, hidden, sim.AllToAllConnector(), sim.EpropSynapse(weight=0.1, delay=1.0))
    p_out = sim.Projection(hidden, out_, sim.AllToAllConnector(), sim.EpropSynapse(weight=0.1, delay=1.0))
    sim.EpropTrainer(p_in, p_out)


def precise_times():
    sim.setup(timestep=0.1, backend="cpu")               # spike_precision="off_grid", the default
    a = sim.Population(2, sim.IF_curr_exp(i_offset=1.0))
    sim.Projection(a, a, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1, delay=0.5))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sim.run(1.0)
    messages["precise_times_warning"] = [str(w.message) for w in caught if w.category is RuntimeWarning]


for name, build in [("event_engine", event_engine), ("reference_path", reference_path), ("trainer", trainer)]:
    attempt(name, build)
precise_times()
sim.end()
if sim.rank() == 0:
    with open(out, "wb") as f:
        pickle.dump(messages, f)
