"""The compiled engine: kernel sources built for the CPU (host C++ compiler) and for CUDA, and the runner that
executes a Network's steps through them (see runner.py)."""
