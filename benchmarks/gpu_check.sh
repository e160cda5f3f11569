#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Issue 5's GPU checks in one script, for a machine with an NVIDIA GPU and numba-cuda (docs/usage.md#gpu):
#   1. the CUDA kernel against the CPU kernel on the real GPU (tests/cuda: every compile-time flag);
#   2. the whole reference suite with the kernel on the GPU (NBNUMBA_DEVICE=cuda; the CPU's thresholds:
#      float image within 1e-6 of the maximum, SMV, noise and PGM files, printed lines);
#   3. BENCH-1/2/3 side by side with nanoBraggCUDA (benchmarks/gpu_benchmark.py), when --cuda-bin names a
#      nanoBraggCUDA build (bl831/nanoBragg's cuda/ folder, built by the caller outside this repository).
#
# usage: benchmarks/gpu_check.sh [--cuda-bin PATH] [--reps N] [--sweep] [--logs DIR]
# (--sweep: also time the kernel's launch configurations, see benchmarks/gpu_benchmark.py)
# Logs and the benchmark report (gpu_benchmark.md/.json) go to DIR (default: $OUT, else /tmp/nbnumba-gpu-check).
# Exit status: the number of failed steps.
set -u -o pipefail
cd "$(dirname "$0")/.."
CUDA_BIN="${NB_CUDA_BIN:-}"
REPS=3
SWEEP=()
LOGS="${OUT:-/tmp/nbnumba-gpu-check}"
while [ $# -gt 0 ]; do
    case "$1" in
        --cuda-bin) CUDA_BIN="$2"; shift 2 ;;
        --reps) REPS="$2"; shift 2 ;;
        --sweep) SWEEP=(--sweep); shift ;;
        --logs) LOGS="$2"; shift 2 ;;
        *) echo "gpu_check.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$LOGS"
export NBNUMBA_CACHE_DIR="${NBNUMBA_CACHE_DIR:-$(mktemp -d)}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY="${PYTHON:-python3}"
failed=0

step() {  # step NAME COMMAND...: run, log to $LOGS/NAME.log, print a one-line verdict with the time taken
    local name="$1"; shift
    local start=$SECONDS
    "$@" > "$LOGS/$name.log" 2>&1
    local rc=$?
    echo "$name: exit $rc in $((SECONDS - start)) s; last lines:"
    tail -n 3 "$LOGS/$name.log" | sed 's/^/    /'
    [ $rc -eq 0 ] || failed=$((failed + 1))
}

if ! "$PY" - <<'PY' 2>&1 | tee "$LOGS/gpu.txt"; then
import sys
from nbnumba.render.device import cuda_unavailable_reason, describe
reason = cuda_unavailable_reason()
print("no GPU for the checks: " + reason if reason else describe("cuda"))
sys.exit(1 if reason else 0)
PY
    exit 3
fi
step cuda_kernel_tests "$PY" -m pytest -q -p no:cacheprovider tests/cuda
step parity_suite_on_gpu env NBNUMBA_DEVICE=cuda "$PY" -m pytest -q -p no:cacheprovider \
    tests/test_parity_c.py tests/test_stdout_c.py
if [ -n "$CUDA_BIN" ]; then
    step benchmark "$PY" benchmarks/gpu_benchmark.py --cuda-bin "$CUDA_BIN" --reps "$REPS" "${SWEEP[@]}" \
        --out "$LOGS/gpu_benchmark"
else
    step benchmark "$PY" benchmarks/gpu_benchmark.py --reps "$REPS" "${SWEEP[@]}" --out "$LOGS/gpu_benchmark"
fi
echo "failed steps: $failed"
exit "$failed"
