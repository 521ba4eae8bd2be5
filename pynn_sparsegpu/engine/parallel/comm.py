"""The processes of a run: mpi4py's COMM_WORLD under an MPI launcher, else one process.

MPI is used only when the script was started by an MPI launcher (mpiexec / mpirun / srun set the environment
variables below) and mpi4py can be imported: a plain `python script.py` never initialises MPI, and needs no MPI
installed. `world()` returns the same object for the whole process.
"""

from __future__ import annotations

import os

import numpy as np

# set by MPICH/Hydra (PMI_*), Open MPI (OMPI_*), PMIx launchers and Slurm's srun with PMI
_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def block(n: int, rank: int, size: int) -> tuple[int, int]:
    """The cells [lo, hi) of n that rank `rank` of `size` holds: contiguous blocks whose sizes differ by at most
    one, in rank order, the larger ones first (a population smaller than the number of processes is on the
    first ranks)."""
    return -(-n * rank // size), -(-n * (rank + 1) // size)


class SerialComm:
    """One process: every collective returns what it was given."""

    rank, size = 0, 1
    local_rank, local_size = 0, 1      # this process's place among the processes of its machine, and their number
    name = "one process"

    def allgatherv(self, array: np.ndarray, sizes: bool = False):
        array = np.ascontiguousarray(array)
        return (array, [array.shape[0]]) if sizes else array

    def allgather(self, value):
        return [value]

    def gather(self, value, root: int = 0):
        return [value]

    def allreduce_sum(self, value):
        return value

    def allreduce_array(self, array: np.ndarray) -> np.ndarray:
        return np.array(array)

    def bcast(self, value, root: int = 0):
        return value

    def barrier(self) -> None:
        pass


class Comm(SerialComm):
    """Several processes through mpi4py (`MPI.COMM_WORLD`)."""

    def __init__(self, mpi_comm):
        from mpi4py import MPI
        self._mpi, self._comm = MPI, mpi_comm
        self.rank, self.size = mpi_comm.Get_rank(), mpi_comm.Get_size()
        local = mpi_comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()
        self.name = f"MPI ({MPI.Get_library_version().splitlines()[0].strip()}), {self.size} processes"

    def allgatherv(self, array: np.ndarray, sizes: bool = False):
        """Every process's rows of `array` (one dtype), concatenated in rank order, on every process; with
        sizes=True also the number of rows each process gave."""
        array = np.ascontiguousarray(array)
        row = int(np.prod(array.shape[1:], dtype=np.int64))
        mine = np.array([array.shape[0]], dtype=np.int64)
        rows = np.empty(self.size, dtype=np.int64)
        self._comm.Allgather([mine, self._mpi.INT64_T], [rows, self._mpi.INT64_T])
        counts = rows * row
        out = np.empty((int(rows.sum()),) + array.shape[1:], dtype=array.dtype)
        displacements = np.concatenate(([0], np.cumsum(counts)[:-1]))
        kind = self._mpi._typedict[array.dtype.char]
        self._comm.Allgatherv([array, kind], [out, (counts, displacements), kind])
        return (out, rows.tolist()) if sizes else out

    def allgather(self, value):
        return self._comm.allgather(value)

    def gather(self, value, root: int = 0):
        return self._comm.gather(value, root=root)

    def allreduce_sum(self, value):
        return self._comm.allreduce(value)

    def allreduce_array(self, array: np.ndarray) -> np.ndarray:
        """The element-wise sum of every process's `array` (same shape and dtype everywhere)."""
        array = np.ascontiguousarray(array)
        out = np.empty_like(array)
        kind = self._mpi._typedict[array.dtype.char]
        self._comm.Allreduce([array, kind], [out, kind], op=self._mpi.SUM)
        return out

    def bcast(self, value, root: int = 0):
        return self._comm.bcast(value, root=root)

    def barrier(self) -> None:
        self._comm.Barrier()


_WORLD = None


def launched_by_mpi() -> bool:
    """Whether an MPI launcher started this process."""
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def world():
    """This run's processes: Comm over MPI.COMM_WORLD under an MPI launcher (when mpi4py is installed; without
    it, one RuntimeWarning and one process), else SerialComm."""
    global _WORLD
    if _WORLD is None:
        _WORLD = SerialComm()
        if launched_by_mpi():
            try:
                from mpi4py import MPI
            except ImportError:
                import warnings
                warnings.warn("this script was started by an MPI launcher but mpi4py is not installed, so each "
                              "process simulates the whole network on its own; install pynn_sparsegpu[mpi]",
                              RuntimeWarning, stacklevel=2)
            else:
                if MPI.COMM_WORLD.Get_size() > 1:
                    _WORLD = Comm(MPI.COMM_WORLD)
    return _WORLD
