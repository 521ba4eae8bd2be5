"""PyNN standard model names, units and translations for the sparsegpu engine."""
