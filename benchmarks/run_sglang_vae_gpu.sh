#!/usr/bin/env bash
# sglang's Wan VAE decode stage on the GPU machine (benchmarks/bench_sglang_vae.py, sglang 0.5.23, the published
# Wan 2.1 VAE with random weights): one process per variant, each under its own time limit and its own emptied
# inductor cache. Results append to $OUT/sglang-vae.jsonl.
#   [VIDEOS=81x480x832,81x832x480,49x480x480] bash benchmarks/run_sglang_vae_gpu.sh "eager compiled compiled-fluxfix" [limit s per run]
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source "$(dirname "$0")/sglang_gpu_hosts.sh"  # HOSTS, ROOT, install_hosts
install_hosts 0.5.23
for variant in $1; do
  echo "== sglang 0.5.23 Wan VAE decode: $variant (limit ${2:-300}s)"
  cache=/tmp/inductor-cache/sglang-vae-$variant; rm -rf "$cache"
  PYTHONPATH="$HOSTS/0.5.23:$HOSTS/common:$HOSTS/fluxfix:$ROOT/patches/sglang/standins" TORCHINDUCTOR_CACHE_DIR=$cache \
    timeout -k 60 "${2:-300}" python3 "$ROOT/benchmarks/bench_sglang_vae.py" --variant "$variant" --device cuda \
    --videos "${VIDEOS:-81x480x832,81x832x480,49x480x480}" --folder /tmp/sglang-vae-models --out "$OUT/sglang-vae.jsonl" \
    2>>"$OUT/sglang-vae.log" || echo "   $variant exited $? (partial results kept)"
done
