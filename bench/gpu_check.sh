#!/usr/bin/env bash
# What a machine with an NVIDIA GPU can check of autoconv, stage by stage, each stage's log in
# OUTDIR (made if missing). Run from the repository's root:
#
#     bash bench/gpu_check.sh OUTDIR [tests] [warmup] [cold-start] [cold-compile] [bench] [bench-spe] [bench-tf32] [kernels] [kernels-tf32] [kernels-base] [kernels-set] [gemm] [racecheck]
#
# (no stage named: tests, warmup, bench). The Python that runs it must import autoconv (installed,
# or PYTHONPATH=.) with numba-cuda and a NumPy it works with (numba-cuda 0.30.4: NumPy < 2.5).
#
# - tests: the CUDA tests off the simulator, the real-GPU ones (marked gpu) included.
# - warmup: `autoconv train mnist --device cuda --epochs 1` twice with one empty kernel cache
#   folder: the first run compiles every kernel (cold), the second loads them (warm); then cold
#   again with AUTOCONV_COMPILE_WORKERS=0 (this process alone compiling) and with the default
#   workers, each with an empty folder. Each run's "Compile/warm-up" line is the figure.
# - cold-start: bench/cold_start.py for MNIST: a cold process's phases (imports, the context, the
#   model, fit's two epochs) split into numba's front end, NVVM, assembly, module and cache loads,
#   imports, cuBLAS's load, graph builds and the rest, then a warm one's. Name it first on a fresh
#   machine: the stages before it warm the disk's page cache and the kernel cache.
# - cold-compile: bench/cold_compile.py for MNIST on this machine's CPU (the GPU unused): the
#   compiles of a cold first epoch alone, beside warmup's cold figure (what the GPU process adds);
#   then those kernels compiled by this process alone and with 8 compile workers, twice each.
# - bench: bench/gpu_vs_torch.py, the four course models against PyTorch (and Keras on JAX when
#   it imports), one round; bench-spe: the same with --steps-per-execution 64; bench-tf32: the
#   same with --tf32 on (every engine's float32 products on TF32 tensor cores, autoconv's too).
# - kernels: bench/gpu_step_kernels.py for each of the four models: a replayed training step's and
#   prediction step's device time, as one CUDA graph and kernel by kernel (where the time goes),
#   at the default precision (TF32 products).
# - kernels-tf32: the same with TF32 products, at tensor-core tiles of 64 and of 128 (each its
#   own kernel cache folder, the tile being compiled into the kernel): which tile to make the
#   default.
# - kernels-base: the same for an older autoconv whose package lies in GPU_CHECK_BASE (made with
#   `mkdir -p .base && git archive REV autoconv | tar -x -C .base`, say, and carried to the
#   machine), each model's run there just before this tree's: the before and after of a change,
#   kernel by kernel, on one machine in one call.
# - kernels-set: each model's tables at the defaults, then with the settings GPU_CHECK_SET names
#   (MODULE.NAME=VALUE, space-separated, all applied together: "depthwise.COLUMN_WALK=False",
#   say), one after the other in one call: a setting's before and after, kernel by kernel.
# - gemm: bench/gemm_vs_vendor.py, each product of a training step of the four models with
#   autoconv's kernel and with cuBLAS (PyTorch's matmul, TF32 off and on): the vendor-GEMM question.
# - racecheck: compute-sanitizer's race check over the kernels with shared memory (the matrix
#   product, the column sums, the loss and metric sums, the first layer's fused conv + pool:
#   its staged outputs) on their tests.
#
# At the end, OUTDIR/summary.md gathers what a record in bench/results needs: the GPU, the
# versions, the command, each stage's figures (warm-up lines, the benchmark's table, the tests'
# counts and failures) and which stages were stopped.
#
# Each stage is stopped after GPU_CHECK_STAGE_SECONDS (default 300) so that one that hangs leaves
# the others their time; its log then ends with "stopped after N s". GPU_CHECK_MODELS names the
# models the kernels stages profile (default: "mnist rgb stack xception"). GPU_CHECK_BENCH_ARGS adds
# arguments to the benchmark's command ("--models mnist,rgb --engines autoconv,torch-eager", say).
# The tests run in GPU_CHECK_WORKERS pytest processes (default: one per 2 cores, at most 8; 1:
# this process) where pytest-xdist is installed: their time is mostly each kernel's first
# compile, a CPU's work.
set -uo pipefail
out=${1:?usage: bash bench/gpu_check.sh OUTDIR [tests] [warmup] [cold-start] [cold-compile] [bench] [bench-spe] [bench-tf32] [kernels] [kernels-tf32] [kernels-base] [kernels-set] [gemm] [racecheck]}
shift
stages=${*:-tests warmup bench}
mkdir -p "$out"
export NUMBA_ENABLE_CUDASIM=0 PYTHONUNBUFFERED=1
limit=${GPU_CHECK_STAGE_SECONDS:-300}
models=${GPU_CHECK_MODELS:-mnist rgb stack xception}
n=${GPU_CHECK_WORKERS:-$(( $(nproc) / 2 > 8 ? 8 : $(nproc) / 2 ))}
workers=()
if (( n > 1 )) && python3 -c "import xdist" 2>/dev/null; then
  workers=(-n "$n")
fi
limited() {  # the command, stopped after $limit seconds (and then saying so)
  timeout "$limit" "$@"
  local rc=$?
  (( rc == 124 )) && echo "stopped after $limit s"
  return $rc
}
python3 - <<'EOF' 2>&1 | tee "$out/versions.log" || exit 1
import sys, numpy, numba, numba_cuda
from numba import cuda
print(sys.version.split()[0], "numpy", numpy.__version__, "numba", numba.__version__,
      "numba-cuda", numba_cuda.__version__)
if not cuda.is_available():
    sys.exit("numba-cuda sees no usable GPU here (or cannot load with this NumPy): stopping")
print(cuda.get_current_device().name)
EOF
for stage in $stages; do
  log="$out/$stage.log"
  echo "== $stage ($(date -u +%FT%TZ))" | tee "$log"
  case $stage in
    tests)
      limited python3 -m pytest -q "${workers[@]}" -m "gpu or cudasim" \
        -p no:cacheprovider tests/backends tests/test_step_replay.py tests/test_gpu_models.py \
        2>&1 | tee -a "$log" ;;
    warmup)
      export NUMBA_CACHE_DIR AUTOCONV_COMPILE_WORKERS
      for run in cold warm "cold, no compile workers" "cold again"; do
        case $run in
          cold*) NUMBA_CACHE_DIR=$(mktemp -d) ;;
        esac
        case $run in
          *"no compile workers") AUTOCONV_COMPILE_WORKERS=0 ;;
          *) unset AUTOCONV_COMPILE_WORKERS ;;
        esac
        echo "-- $run" | tee -a "$log"
        limited python3 -m autoconv train mnist --device cuda --epochs 1 2>&1 |
          tee -a "$log"
      done
      unset NUMBA_CACHE_DIR AUTOCONV_COMPILE_WORKERS ;;
    cold-start)
      limited python3 bench/cold_start.py 2>&1 | grep -v -e NumbaPerformanceWarning -e "warn(" |
        tee -a "$log" ;;
    cold-compile)
      limited python3 bench/cold_compile.py --functions 2>&1 | grep -v -e NumbaPerformanceWarning -e "warn(" |
        tee -a "$log"
      for workers in 0 8 0 8; do
        limited python3 bench/cold_compile.py --workers $workers 2>&1 | grep -E "^fit, " | tee -a "$log"
      done ;;
    bench)
      limited python3 bench/gpu_vs_torch.py --device cuda --rounds 1 ${GPU_CHECK_BENCH_ARGS:-} \
        --json "$out/bench.json" \
        2>&1 | tee -a "$log" ;;
    bench-spe)
      limited python3 bench/gpu_vs_torch.py --device cuda --rounds 1 --steps-per-execution 64 \
        ${GPU_CHECK_BENCH_ARGS:-} \
        --json "$out/bench-spe.json" 2>&1 | tee -a "$log" ;;
    bench-tf32)
      limited python3 bench/gpu_vs_torch.py --device cuda --rounds 1 --tf32 on \
        ${GPU_CHECK_BENCH_ARGS:-} \
        --json "$out/bench-tf32.json" 2>&1 | tee -a "$log" ;;
    kernels)
      for model in $models; do
        limited python3 bench/gpu_step_kernels.py --model "$model" --rows 30 2>&1 |
          grep -v -e NumbaPerformanceWarning -e "warn(" | tee -a "$log"
      done ;;
    kernels-tf32)
      for model in $models; do
        for tile in 64 128; do
          echo "-- $model, TF32, tensor-core tiles of $tile" | tee -a "$log"
          NUMBA_CACHE_DIR="/tmp/gpu-check-cache-tc$tile" \
            limited python3 bench/gpu_step_kernels.py --model "$model" --rows 30 --precision high \
            --set "gemm.TC_TILE=$tile" 2>&1 |
            grep -v -e NumbaPerformanceWarning -e "warn(" | tee -a "$log"
        done
      done ;;
    kernels-base)
      base=${GPU_CHECK_BASE:?kernels-base needs GPU_CHECK_BASE, a folder holding an older autoconv/}
      for model in $models; do
        for tree in "$base" "$PWD"; do
          echo "-- $model at $tree" | tee -a "$log"
          AUTOCONV_DATA="$PWD/datasets" PYTHONPATH="$(cd "$tree" && pwd):${PYTHONPATH:-}" \
            NUMBA_CACHE_DIR="/tmp/gpu-check-cache-$(basename "$tree")" \
            limited python3 bench/gpu_step_kernels.py --model "$model" --rows 30 2>&1 |
            grep -v -e NumbaPerformanceWarning -e "warn(" | tee -a "$log"
        done
      done ;;
    kernels-set)
      read -ra settings <<< "${GPU_CHECK_SET:?kernels-set needs GPU_CHECK_SET: MODULE.NAME=VALUE ...}"
      changed=()
      for setting in "${settings[@]}"; do changed+=(--set "$setting"); done
      for model in $models; do
        echo "-- $model at the defaults" | tee -a "$log"
        limited python3 bench/gpu_step_kernels.py --model "$model" --rows 30 2>&1 |
          grep -v -e NumbaPerformanceWarning -e "warn(" | tee -a "$log"
        echo "-- $model with ${settings[*]}" | tee -a "$log"
        limited python3 bench/gpu_step_kernels.py --model "$model" --rows 30 "${changed[@]}" 2>&1 |
          grep -v -e NumbaPerformanceWarning -e "warn(" | tee -a "$log"
      done ;;
    gemm)
      limited python3 bench/gemm_vs_vendor.py --device cuda --json "$out/gemm.json" 2>&1 |
        tee -a "$log" ;;
    racecheck)
      limited compute-sanitizer --tool racecheck --error-exitcode 9 python3 -m pytest -q -x \
        -p no:cacheprovider tests/backends/test_cuda.py tests/backends/test_cuda_gemm.py \
        tests/backends/test_cuda_conv.py tests/backends/test_cuda_losses.py \
        -k "matmul or column_sums or loss or direct_kernel" \
        2>&1 | tee -a "$log" ;;
    *) echo "unknown stage $stage (tests, warmup, cold-start, cold-compile, bench, bench-spe, bench-tf32, kernels, kernels-tf32, kernels-base, kernels-set, gemm, racecheck)" |
         tee -a "$log" ;;
  esac
done
{
  echo "# GPU check, $(date -u +%F)"
  echo
  echo "- GPU and versions: $(tail -n 1 "$out/versions.log"); $(head -n 1 "$out/versions.log")"
  echo "- command: GPU_CHECK_STAGE_SECONDS=$limit bash bench/gpu_check.sh OUTDIR $stages"
  for stage in $stages; do
    log="$out/$stage.log"
    [ -f "$log" ] || continue
    echo
    echo "## $stage"
    echo
    case $stage in
      warmup) grep -E "^-- |Device:|Compile/warm-up|Epoch times|Throughput|accuracy" "$log" ;;
      cold-compile) grep -E "^mnist:|^fit, |^predict:" "$log" ;;
      bench|bench-spe|bench-tf32|gemm) grep -E "^\||^Medians|^Device|^Date|^Command|^[a-z]+ \(batch|failed" "$log" ;;
      kernels|kernels-tf32|kernels-base|kernels-set) grep -E "^-- |^Device|kernels a step|Error" "$log" ;;
      *) grep -E "passed|failed|error|FAILED|ERROR" "$log" | tail -n 20 ;;
    esac
    grep -E "^stopped after" "$log"
  done
} > "$out/summary.md" 2>/dev/null
echo "summary: $out/summary.md"
