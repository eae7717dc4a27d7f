#!/usr/bin/env bash
# The end-to-end FluxPipeline benchmark on the device machine: installs the carried wheels (.whl/diffusers)
# and fluxfix (diffusers_gpu_site.sh), makes the full-size model folder once under
# /tmp (kept between variants and between calls on a warm machine), then runs each variant in its own
# process, one after another, each under its own time limit; results append to $OUT/pipeline.jsonl.
# Each variant compiles into its own TORCHINDUCTOR_CACHE_DIR, emptied before its first run; VARIANT+warm
# runs it twice, the second with --warm-cache: a second process start on the first one's compile cache.
# MODEL=Wan2.1-T2V-1.3B runs Wan 2.1 (WanPipeline) instead of FLUX.1-dev; MODE=max-autotune-no-cudagraphs
# compiles in sglang's default mode instead of torch's.
#   [MODEL=name] [MODE=mode] [STEPS=n] [REQUESTS=n] bash benchmarks/run_pipeline_gpu.sh "eager compiled+warm regional+warm" [limit seconds per variant]
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source "$(dirname "$0")/diffusers_gpu_site.sh"  # PYTHONPATH: the carried wheels, fluxfix from this checkout
unset TRITON_CACHE_DIR  # Triton's kernels then live in each variant's inductor cache too
LIMIT=${2:-300}
MODEL=${MODEL:-FLUX.1-dev}
FOLDER=/tmp/pipeline-models
echo "== model folder"
python benchmarks/bench_pipeline.py --make-only --model "$MODEL" --folder "$FOLDER" 2>>"$OUT/pipeline.log" || exit 1
n=0; total=$(echo "$1" | wc -w)
for spec in $1; do
  variant=${spec%+warm}; n=$((n + 1))
  cache=/tmp/inductor-cache/$MODEL-$variant-${MODE:-default}
  rm -rf "$cache"
  for warm in "" ${spec#$variant}; do  # "" then, for VARIANT+warm, "+warm"
    echo "== run $n/$total: $variant ${warm:+(warm cache) }(limit ${LIMIT}s)"
    TORCHINDUCTOR_CACHE_DIR=$cache timeout -k 30 "$LIMIT" python benchmarks/bench_pipeline.py --model "$MODEL" --variant "$variant" ${warm:+--warm-cache} \
      --folder "$FOLDER" --out "$OUT/pipeline.jsonl" ${STEPS:+--steps $STEPS} ${REQUESTS:+--requests $REQUESTS} ${MODE:+--mode $MODE} \
      2>>"$OUT/pipeline.log" || echo "   $variant ${warm:+(warm) }exited $? (partial results kept)"
  done
done
