"""Simulator state for the PyNN face: the clock, the array backend and the engine Network."""

from __future__ import annotations

import functools

import numpy as np
from pyNN import common

from .engine import Network, select_backend

name = "sparsegpu"


def streams_kept_on_error(init):
    """For the constructors of Population, Projection and the current sources: a refused one takes back the
    random streams it was given, so that the parts made after it get the streams they would get without it
    (a script that catches a refusal, or a notebook cell run again after a fix, gives the same results)."""
    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        network = state.network
        marks = network.stream_marks() if network is not None else None
        try:
            return init(self, *args, **kwargs)
        except BaseException:
            if marks is not None and state.network is network:
                network.restore_stream_marks(marks)
            raise
    return wrapper


class ID(int, common.IDMixin):
    def __init__(self, n):
        int.__init__(n)
        common.IDMixin.__init__(self)


class SimulationEndedError(RuntimeError):
    """Raised when the network is used after end() without a new setup()."""


class State(common.control.BaseState):
    def __init__(self):
        super().__init__()
        self.mpi_rank = 0
        self.num_processes = 1
        self.network = None
        self.backend = None
        self.dt = 0.1
        self._min_delay = "auto"
        self._max_delay = "auto"
        self.ended = True
        self.segment_counter = -1
        self.populations = []
        self.current_sources = []
        self.id_counter = 0
        self.rng_seed = None
        self.spike_precision = "off_grid"
        self.trainers = []          # EpropTrainers of the current simulation (sim.checkpoint stores them)

    # --- lifecycle ----------------------------------------------------------------------------------
    def setup(self, timestep, min_delay, max_delay, backend=None, precision=None, rng_seed=None,
              spike_precision="off_grid", threads=1, engine="auto"):
        from .engine.parallel import world
        comm = world()                    # several processes under mpiexec (mpi4py), else one
        self.mpi_rank, self.num_processes = comm.rank, comm.size
        self.backend = select_backend(backend, precision, comm)
        self.backend.threads = int(threads)
        if threads > 1 and self.backend.compiled and "no OpenMP" in (self.backend.compiler or ""):
            import warnings
            warnings.warn(f"threads={threads}: the C++ compiler has no OpenMP, so the compiled path runs on one "
                          "thread", RuntimeWarning, stacklevel=3)
        self.dt = float(timestep)
        self._min_delay = min_delay
        self._max_delay = max_delay
        self.rng_seed = rng_seed
        self.spike_precision = spike_precision
        self.network = Network(self.backend, self.dt, rng_seed, comm=comm)
        self.network.engine_choice = engine
        self.network.spike_precision = spike_precision
        self.populations = []
        self.current_sources = []
        self.trainers = []
        self.recorders = set()
        self.id_counter = 0
        self.segment_counter = 0
        self.running = False
        self.t_start = 0
        self.ended = False

    def end(self):
        self.ended = True

    def check_alive(self):
        if self.ended or self.network is None:
            raise SimulationEndedError("the simulation has ended (or setup() was never called); "
                                       "call sim.setup() to start a new one")

    @property
    def min_delay(self):
        """The given min_delay, or with 'auto' the shortest delay in the network (dt while there is none)."""
        if self._min_delay == "auto":
            delays = [p.min_delay_steps for p in self.network.projections] if self.network else []
            delays = [d for d in delays if d is not None]
            return max(min(delays), 1) * self.dt if delays else self.dt
        return float(self._min_delay)

    @property
    def max_delay(self):
        if self._max_delay == "auto":
            longest = max([p.max_delay_steps for p in self.network.projections] + [0]) if self.network else 0
            return max(longest * self.dt, 10.0 * self.min_delay)
        return float(self._max_delay)

    @property
    def t(self):
        return self.network.t if self.network is not None else 0.0

    # --- running ------------------------------------------------------------------------------------
    def run_until(self, tstop):
        self.check_alive()
        if isinstance(tstop, bool) or not isinstance(tstop, (int, float, np.integer, np.floating)) \
                or not np.isfinite(tstop):
            raise ValueError(f"run_until({tstop!r}): the time must be a finite number of ms")
        n_steps = int(round((tstop - self.t) / self.dt))
        if n_steps < 0:
            raise ValueError(f"Time {tstop} is in the past (current time {self.t})")
        self.network.run(n_steps)
        self.running = True

    def run(self, simtime):
        self.run_until(self.t + simtime)

    def reset(self):
        self.check_alive()
        self.network.reset()
        self.running = False
        self.t_start = 0
        self.segment_counter += 1
        for source in self.current_sources:
            source._reset()

    def clear(self):
        self.recorders = set()


state = State()
