"""Several processes (MPI ranks) simulating one network: who owns which neurons, and the spike exchange.

Neurons are distributed in contiguous blocks: rank r of P holds cells [n r / P, n (r + 1) / P) of every
population (block()). Each rank stores the synapses onto its own cells, with rows for every presynaptic cell
of the network, and receives every rank's spikes once per min_delay (exchange.py). Random streams are keyed by
global cell and synapse indices, so a network gives the same spikes on any number of processes.
"""

from .comm import Comm, SerialComm, block, world

__all__ = ["Comm", "SerialComm", "block", "world"]
