#!/usr/bin/env bash
# The prepared GPU check (one call on an H100 / H200 of a session lent a device; ~8 minutes):
#   1. build and install the package with CUDA (CHRONOSCALE_CUDA=ON),
#   2. the GPU tests: CHRONOSCALE_REQUIRE_GPU=1 pytest -m gpu (each result against the CPU),
#   3. the benchmark beside torch.nn.LSTM / GRU (bench_recurrent_gpu.py) and the multi-scale
#      recommender beside its PyTorch twin (compare_recommender.py --device cuda), then a
#      cProfile of its GPU train step (--profile 5), the classic model's train step and fit
#      epoch beside torch's (compare_seed.py --device cuda),
#   4. with the time left: the recurrent runs of every launch mode under compute-sanitizer
#      racecheck, Nsight Compute counters of the recurrent kernels at four shapes
#      (profile_recurrent.py, summarised by ncu_summary.py), then memcheck (recurrent runs and
#      training ops) and synccheck.
# $OUT (a temporary folder when unset) gets run.log (everything printed), build_full.log and
# bench_recurrent_gpu.json; the last lines printed are the benchmark table and step statuses. Each step has
# its own time limit, cut to what is left of DEADLINE seconds (default 540, under the device
# tool's 600 s per command); a step with under 20 s left is skipped. A failing step does not stop
# the later ones; the exit status is the number of failed or skipped steps.
# Run from anywhere: bash bench/gpu/run_device.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$(mktemp -d)}
export OUT PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
DEADLINE=${DEADLINE:-540}
failed=0
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  local left=$((DEADLINE - SECONDS - 5))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 20 ]; then
    echo "=== $name: skipped, ${left}s left"
    statuses+=("$name: skipped")
    failed=$((failed + 1))
    return 1
  fi
  echo "=== $name (limit ${limit}s) $(date +%T)"
  local t0=$SECONDS
  timeout --kill-after=5 "$limit" "$@" 2>&1
  local rc=$?
  echo "=== $name: exit $rc after $((SECONDS - t0))s"
  statuses+=("$name: exit $rc ($((SECONDS - t0))s)")
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
  return "$rc"
}
statuses=()
exec > >(tee -a "$OUT/run.log") 2>&1

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv
  nvcc --version | tail -2
  $PY -c "import sys, cupy, numpy; print(sys.version.split()[0], 'cupy', cupy.__version__, 'numpy', numpy.__version__)"
  $PY -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())"
  # The device's copy of the tree may carry a stale .git: pass COMMIT=<sha> on the command line.
  echo "commit ${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null) (from .git; may be stale)}"
} 2>&1

# --no-deps: the device machine has no network, and numpy / tqdm are already there.
# scipy-openblas32 is not: carry it as a wheel in .whl/ (see README.md) so that the CPU
# references use the same BLAS as everywhere else (without it: the built-in GEMM, slower).
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export CHRONOSCALE_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-16}
# The device image sets CXX=/opt/gcc/bin/g++, whose module links libstdc++ statically; C++
# exceptions thrown inside the kernels' entry points then crashed the process (2026-11-28, H200).
# Build with the system compiler (dynamic libstdc++, as everywhere else) when it is there.
if [ -x /usr/bin/g++ ] && [ -x /usr/bin/gcc ]; then
  export CC=/usr/bin/gcc CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++
fi
step build 240 bash -c "$PY -m pip install --no-build-isolation --no-deps --force-reinstall -v . \
  > '$OUT/build_full.log' 2>&1; rc=\$?; grep -E 'ptxas|warning|error' '$OUT/build_full.log' | tail -20; \
  tail -3 '$OUT/build_full.log'; exit \$rc" || { echo "build failed; see build_full.log"; exit 1; }
$PY -c "import chronoscale, chronoscale._core as c; i = chronoscale.build_info(); \
print('cuda', i['cuda'], 'available', i['cuda_available'], 'blas', i['blas'], 'archs', i.get('cuda_architectures'))"

# From the repository root `import chronoscale` finds the installed package (the sources are
# under python/, which is not on sys.path).
# One pytest process per test file, so that a crash in one file does not hide the others (and
# up to 5 failures per file are reported, not only the first); a file that crashes is run again
# under gdb (when there) for the native backtrace.
gpu_tests() {
  local files rc=0 f
  files=$(grep -l "pytest.mark.gpu" tests/python/test_*.py)
  for f in $files; do
    echo "--- $f"
    env CHRONOSCALE_REQUIRE_GPU=1 $PY -m pytest -m gpu -q -p no:cacheprovider --maxfail=5 \
      -W ignore::DeprecationWarning "$f" 2>&1 | tail -25
    local r=${PIPESTATUS[0]}
    if [ "$r" -ge 128 ] || [ "$r" -eq 134 ] || [ "$r" -eq 139 ]; then
      echo "--- $f crashed (exit $r)"
      command -v gdb >/dev/null && timeout 60 gdb -q -batch -ex run -ex bt --args $PY -m pytest \
        -m gpu -q -p no:cacheprovider -x "$f" 2>&1 | grep -E "^#|signal|test_" | head -40
    fi
    [ "$r" -eq 0 ] || [ "$r" -eq 5 ] || rc=1
  done
  return $rc
}
export -f gpu_tests
export PY
step pytest_gpu 240 bash -c gpu_tests

# The benchmarks first (the headline numbers), then the sanitizers with the time left.
[ -n "${SKIP_RECURRENT_BENCH:-}" ] || step bench 150 $PY bench/gpu/bench_recurrent_gpu.py --budget ${BENCH_BUDGET:-100} \
  --json "$OUT/bench_recurrent_gpu.json"

# The multi-scale recommender on the GPU beside its PyTorch + cuDNN twin (B=256, T=192, V=3,706).
step bench_recommender 90 $PY bench/python/compare_recommender.py --device cuda --repeat 5 \
  --warmup 2 --json "$OUT/bench_recommender_gpu.json"
# Where the host's time goes in that GPU train step: each phase's host time without and with a
# sync after it, then a cProfile (waits show as time in the call that waits).
step phases_recommender 40 $PY bench/python/compare_recommender.py --device cuda --phases 7 \
  --warmup 3
step profile_recommender 60 $PY bench/python/compare_recommender.py --device cuda --profile 5 \
  --warmup 2
# The classic Conv1D -> LSTM -> LSTM model beside its torch twin: a train step, a whole fit
# epoch from host arrays (nn.fit: per-batch copies, losses kept on the device) and predict.
step bench_seed 45 $PY bench/python/compare_seed.py --device cuda --repeat 20 --rounds 3
# The recommender's row glue as single kernels (gather / scatter by index, row normalisation).
step bench_rows 30 $PY bench/python/compare_rows.py --device cuda --repeat 11
# The recommender's top-k over its catalogue (ops.top_k) beside torch.topk and CuPy's argsort.
step bench_top_k 30 $PY bench/python/compare_top_k.py --device cuda --repeat 11 --check
# The two cross-entropy kernels (warp / block per row) at the recommender's size.
step bench_xent 45 $PY bench/gpu/bench_xent.py

sanitize() {
  step "sanitize_$1" "$2" compute-sanitizer --tool "$1" --error-exitcode 9 \
    $PY bench/gpu/sanitize_recurrent.py
}
# With the time left: racecheck first (the resident blocks' alternating state buffers are the
# newest barrier logic), then the kernels' hardware counters (ncu), then the other checks.
if command -v compute-sanitizer >/dev/null; then
  sanitize racecheck 60
else
  echo "compute-sanitizer not found: sanitizer runs skipped"
fi
if command -v ncu >/dev/null; then
  step ncu 90 bash -c "ncu --clock-control none --csv --page raw --section SpeedOfLight \
    --section Occupancy --section LaunchStats --section WarpStateStats -k regex:recurrent_ \
    $PY bench/gpu/profile_recurrent.py > '$OUT/ncu.csv' 2> '$OUT/ncu.err'; rc=\$?; \
    $PY bench/gpu/ncu_summary.py '$OUT/ncu.csv' || tail -5 '$OUT/ncu.err'; exit \$rc"
else
  echo "ncu not found: kernel counters skipped"
fi
if command -v compute-sanitizer >/dev/null; then
  sanitize memcheck 60
  step sanitize_train_memcheck 40 compute-sanitizer --tool memcheck --error-exitcode 9 \
    $PY bench/gpu/sanitize_train.py
  sanitize synccheck 60
fi

[ -f "$OUT/bench_recurrent_gpu.json" ] && $PY bench/gpu/bench_recurrent_gpu.py \
  --summary "$OUT/bench_recurrent_gpu.json"
printf '%s\n' "${statuses[@]}"
echo "=== done: $failed failed step(s); logs in $OUT"
exit "$failed"
