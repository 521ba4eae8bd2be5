#!/usr/bin/env bash
# The checks that need a CUDA device, as one command for a machine with a GPU and CuPy but no package index.
#
#   bash tools/gpu_check.sh --fetch     # here, with a package index: the wheels the GPU machine lacks, into .whl/
#   bash tools/gpu_check.sh             # there (with .whl/ beside the checkout): tests marked gpu, then the
#                                       # GPU benchmarks; logs and JSON into $OUT (default /tmp/gpu_check)
#
# The GPU machine's Python must have NumPy, CuPy, pytest, pytest-timeout and hypothesis; PyNN, Neo, quantities
# and lazyarray travel as wheels. NEST does not: the comparisons with pyNN.nest are left to the CPU test run.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}

if [ "${1:-}" = "--fetch" ]; then
    mkdir -p .whl
    for dist in PyNN neo quantities lazyarray; do
        version=$("$python" -c "import importlib.metadata as m; print(m.version('$dist'))") || exit 1
        "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl \
            "$dist==$version" || exit 1
    done
    ls -l .whl
    exit 0
fi

out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
site=/tmp/gpu_check_site
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl \
    || { echo "installing the wheels of .whl/ failed (run tools/gpu_check.sh --fetch where pip works)"; exit 1; }
cp -r pyNN/sparsegpu "$site/pyNN/"          # pyNN.sparsegpu, the alias of pynn_sparsegpu
export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1
status=0
{ nvidia-smi; "$python" -c "import cupy, numpy; print('cupy', cupy.__version__, 'numpy', numpy.__version__)"; } \
    > "$out/device.txt" 2>&1
"$python" -c "import pynn_sparsegpu as sim; sim.setup(backend='cupy'); print(sim.backend_info())" >> "$out/device.txt" 2>&1 \
    || status=1
# 1. every test marked gpu (CuPy against the NumPy reference and the compiled CPU path, checkpoints between
#    the CPU and the GPU, the off-grid kernels on the device)
timeout 420 "$python" -m pytest -q -p no:cacheprovider -m gpu tests 2>&1 | tee "$out/gpu_tests.log" || status=1
# 2. speed: the balanced network on CuPy (launches and host synchronisations per step are in its JSON)
for n in ${GPU_CHECK_SIZES:-100000 1000000}; do
    PYNN_SPARSEGPU_BACKEND=${PYNN_SPARSEGPU_BACKEND:-cupy} timeout 120 "$python" benchmarks/balanced_network.py sparsegpu --n $n --tstop 1000 --precision float32 \
        --spike-precision on_grid --json "$out/balanced_cupy_$n.json" > "$out/balanced_cupy_$n.txt" 2>&1 || status=1
done
exit $status
