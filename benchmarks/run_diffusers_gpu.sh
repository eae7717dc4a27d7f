#!/usr/bin/env bash
# The diffusers GPU benchmark on the device machine: installs the carried wheels (.whl/diffusers)
# and fluxfix (diffusers_gpu_site.sh), then runs each variant of each model in its own
# process, one after another, each under its own time limit; results append to $OUT/diffusers.jsonl.
# PROFILE=1: each variant also profiles one call (bench_diffusers.py --profile), its trace to $OUT/trace-MODEL-VARIANT.json.gz.
#   [STEPS=n] [PROFILE=1] bash benchmarks/run_diffusers_gpu.sh "flux:bf16-regional,fp8-eager wan:bf16-regional" [limit seconds per variant]
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source "$(dirname "$0")/diffusers_gpu_site.sh"  # PYTHONPATH: the carried wheels, fluxfix from this checkout
LIMIT=${2:-300}
n=0; total=$(echo "$1" | tr ' ' '\n' | sed 's/^[^:]*://' | tr ',' '\n' | wc -l)
for spec in $1; do
  model=${spec%%:*}
  for variant in $(echo "${spec#*:}" | tr ',' ' '); do
    n=$((n + 1)); echo "== run $n/$total: $model $variant (limit ${LIMIT}s)"
    timeout "$LIMIT" python benchmarks/bench_diffusers.py --model "$model" --variant "$variant" --out "$OUT/diffusers.jsonl" ${STEPS:+--steps $STEPS} \
      ${PROFILE:+--profile "$OUT/trace-$model-$variant.json.gz"} \
      2>>"$OUT/diffusers.log" || echo "   $model $variant exited $? (partial results kept)"
  done
done
