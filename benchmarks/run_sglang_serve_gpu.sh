#!/usr/bin/env bash
# sglang's own server end to end on the GPU machine (benchmarks/bench_sglang_serve.py, FLUX.1-dev or MODEL at full size):
# each run is `sglang serve` of one release in one variant, then the request stream; runs one after another,
# each under its own time limit, each compiling into its own inductor cache (emptied first), sglang's nvcc-built
# tvm-ffi kernels too (their default cache, ~/.cache/tvm-ffi, would let only a machine's first run pay for them), and
# sglang's own cache root (0.5.17+ move a TORCHINDUCTOR_CACHE_DIR under /tmp to ~/.cache/sgl_diffusion, shared by all);
# SPEC+warm runs the same again on those caches (a second process start); SPEC+rerun only that second start, on the
# caches an earlier call left on the same held machine; SPEC~PATCH runs without that fluxfix patch (FLUXFIX_DISABLE),
# e.g. "0.5.23:regional~sglang-group-norm-silu-op 0.5.23:regional" measures that patch. Results append to $OUT/sglang-serve.jsonl, server
# logs to $OUT/.
#   [MODE=sglang|default] [STEPS=28] [REQUESTS=6] bash benchmarks/run_sglang_serve_gpu.sh \
#       "0.5.10:eager 0.5.10:compiled 0.5.10:compiled-fluxfix 0.5.10:regional+warm 0.5.11:compiled" [limit s per run]
# RESOLUTIONS=HxW,...: the first request's size, then the stream's in that order (default: the model's three, mixed).
# SERVE_ARGS: more `sglang serve` arguments for every run (0.5.11+ on a Hopper GPU: --attention-backend torch_sdpa, since
# its FlashAttention 3 path imports sgl_kernel.flash_attn, which the import-only stand-in does not provide).
# MODE=sglang keeps sglang's own compile mode (max-autotune-no-cudagraphs); default sets mode "default".
# MODEL=Wan2.1-T2V-1.3B serves Wan 2.1 (videos of 81 frames); saving a video needs the real imageio-ffmpeg: carry its wheel
# in .whl/video (imageio-ffmpeg==0.6.0, 28 MB, or 20 MB repacked by `slim_wheel.py --lzma`, which lets it travel beside
# 0.5.23; 0.8 is 68 MB; it then shadows the import-only stand-in). Wan's CUDA norm
# also needs nvidia-cutlass-dsl, too large to carry: BENCHMARKS.md says what stopped there.
#
# Carried wheels (cp312 x86_64, BENCHMARKS.md says how they were fetched): .whl/common and .whl/RELEASE, installed by
# sglang_gpu_hosts.sh with fluxfix from this checkout. PYTHONPATH per run:
# the release, the deps, the import-only stand-ins (patches/sglang/standins) and the harness
# (benchmarks/serve_harness: its sitecustomize adds fluxfix's folder as a site folder in the variants that run
# fluxfix, so its .pth auto-load runs in every process the server spawns, as from a pip install).
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source "$(dirname "$0")/sglang_gpu_hosts.sh"  # HOSTS, ROOT, install_hosts
LIMIT=${2:-400}
FOLDER=/tmp/pipeline-models  # shared with run_pipeline_gpu.sh: the same model folders
MODEL=${MODEL:-FLUX.1-dev}
install_hosts $(for spec in $1; do echo "${spec%%:*}"; done | sort -u)
echo "== model folder"
start=$SECONDS
PYTHONPATH="$HOSTS/common" python3 "$ROOT/benchmarks/bench_pipeline.py" --make-only --model "$MODEL" --folder "$FOLDER" 2>>"$OUT/sglang-serve.log" || exit 1
echo "   ready in $((SECONDS - start)) s ($(du -sh "$FOLDER" | cut -f1))"
n=0; total=$(echo "$1" | wc -w)
for spec in $1; do
  release=${spec%%:*}; run=${spec#*:}; n=$((n + 1)); disable=""
  case $run in *~*) disable=${run#*~}; run=${run%%~*} ;; esac
  case $run in  # the runs: cold (""), then for +warm a second start on its caches; +rerun: that second start alone
    *+warm) variant=${run%+warm}; passes=("" +warm) ;;
    *+rerun) variant=${run%+rerun}; passes=(+warm) ;;  # on the caches an earlier call left on this held machine
    *) variant=$run; passes=("") ;;
  esac
  cache=/tmp/inductor-cache/sglang-$MODEL-$release-$variant${disable:+-without-$disable}-${MODE:-sglang}
  [ -z "${passes[0]}" ] && rm -rf "$cache"
  for warm in "${passes[@]}"; do
    echo "== run $n/$total: sglang $release $variant${disable:+ without $disable} (${MODE:-sglang} mode) ${warm:+(warm cache) }(limit ${LIMIT}s)"
    # -k 90: at the limit the bench first stops the server (up to 60 s), then writes what it measured
    PYTHONPATH="$HOSTS/$release:$HOSTS/common:$HOSTS/video:$ROOT/patches/sglang/standins:$ROOT/benchmarks/serve_harness" \
      BENCH_FLUXFIX_DIR="$HOSTS/fluxfix" TORCHINDUCTOR_CACHE_DIR=$cache TVM_FFI_CACHE_DIR=$cache/tvm-ffi \
      SGLANG_DIFFUSION_CACHE_ROOT=$cache/sgl_diffusion PATH="$HOSTS/$release/bin:$PATH" \
      timeout -k 90 "$LIMIT" python3 "$ROOT/benchmarks/bench_sglang_serve.py" --variant "$variant" --mode "${MODE:-sglang}" \
      --model "$MODEL" ${warm:+--warm-cache} ${disable:+--disable $disable} ${RESOLUTIONS:+--resolutions $RESOLUTIONS} --folder "$FOLDER" --out "$OUT/sglang-serve.jsonl" --log-dir "$OUT" \
      ${STEPS:+--steps $STEPS} ${REQUESTS:+--requests $REQUESTS} ${SERVE_ARGS:+-- $SERVE_ARGS} 2>>"$OUT/sglang-serve.log" \
      || echo "   $variant ${warm:+(warm) }exited $? (partial results kept)"
  done
done
# the server logs in one archive: at most 8 files come back from the machine, 16 MiB each
(cd "$OUT" && ls serve-*.log >/dev/null 2>&1 && tar czf "server-logs-$(date +%H%M%S).tgz" serve-*.log && rm -f serve-*.log)
