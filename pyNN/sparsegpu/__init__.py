"""`import pyNN.sparsegpu` gives the `pynn_sparsegpu` package itself.

This one-file part of the pyNN namespace is installed beside PyNN's own backends; it replaces itself in
sys.modules by `pynn_sparsegpu`, so both names refer to one module object (one simulator state).
"""

import sys

import pynn_sparsegpu

sys.modules[__name__] = pynn_sparsegpu
