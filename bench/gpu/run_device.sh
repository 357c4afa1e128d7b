#!/usr/bin/env bash
# The prepared GPU check (one call on an H100 / H200 of a session lent a device; ~8 minutes):
#   1. build and install the package with CUDA (CHRONOSCALE_CUDA=ON),
#   2. the GPU tests: CHRONOSCALE_REQUIRE_GPU=1 pytest -m gpu (each result against the CPU),
#   3. small runs of every recurrent launch mode under compute-sanitizer (memcheck, racecheck,
#      synccheck), skipped when compute-sanitizer is missing,
#   4. the benchmark beside torch.nn.LSTM / GRU (bench_recurrent_gpu.py).
# Logs and bench_recurrent_gpu.json go to $OUT (a temporary folder when unset). Each step has
# its own time limit; a failing step does not stop the later ones; the exit status is the number
# of failed steps. Run from anywhere: bash bench/gpu/run_device.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$(mktemp -d)}
export OUT PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
failed=0
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  echo "=== $name (limit ${limit}s) $(date +%T)"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc after $((SECONDS - t0))s"
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
  return "$rc"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  nvcc --version | tail -2
  $PY -c "import sys, cupy, numpy; print(sys.version.split()[0], 'cupy', cupy.__version__, 'numpy', numpy.__version__)"
  $PY -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())"
  git rev-parse --short HEAD 2>/dev/null
} 2>&1 | tee "$OUT/env.txt"

# --no-deps: the device machine has no network, and numpy / tqdm are already there
# (scipy-openblas32 is not: the CPU references then use another BLAS or the built-in GEMM).
export CHRONOSCALE_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-16}
step build 300 $PY -m pip install --no-build-isolation --no-deps --force-reinstall -v . || {
  echo "build failed; see $OUT/build.log"; exit 1; }
$PY -c "import chronoscale, chronoscale._core as c; i = chronoscale.build_info(); \
print('cuda', i['cuda'], 'available', i['cuda_available'], 'blas', i['blas'], 'archs', i.get('cuda_architectures'))"

# From the repository root `import chronoscale` finds the installed package (the sources are
# under python/, which is not on sys.path).
CHRONOSCALE_REQUIRE_GPU=1 step pytest_gpu 200 $PY -m pytest -m gpu -q -p no:cacheprovider -s \
  -W ignore::DeprecationWarning tests/python

if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck synccheck; do
    step "sanitize_$tool" 90 compute-sanitizer --tool "$tool" --error-exitcode 9 \
      $PY bench/gpu/sanitize_recurrent.py
  done
else
  echo "compute-sanitizer not found: sanitizer runs skipped"
fi

step bench 260 $PY bench/gpu/bench_recurrent_gpu.py --budget ${BENCH_BUDGET:-170} \
  --json "$OUT/bench_recurrent_gpu.json"

echo "=== done: $failed failed step(s); logs in $OUT"
exit "$failed"
