#!/usr/bin/env bash
# Runs benchmarks/bench_sglang.py for several (sglang release, variant, mode) side by side on one
# GPU machine and collects the JSON lines in OUTDIR/results.jsonl (log: OUTDIR/bench.log).
#
#   benchmarks/run_gpu.sh OUTDIR RUN [RUN ...]
#   RUN = "release variant mode [label] [VAR=value ...] [--bench-flag[=value] ...]"
#   e.g. benchmarks/run_gpu.sh /tmp/out "0.5.10 unpatched default" "0.5.10 fluxfix default" \
#        "0.5.10 unpatched default rope-fallback SGLANG_ENABLE_FUSED_QKNORM_ROPE=0" \
#        "0.5.10 fluxfix default flux2 --model=flux2 --fullgraph"
#   RUN = "release doctor model [--doctor-flag ...]" runs `fluxfix doctor --device cuda` instead
#   (tables to OUTDIR/doctor.txt, JSON lines to OUTDIR/doctor.jsonl).
#
# Wheels (cp312, x86_64) are read from .whl/common (sglang's import-time deps) and .whl/RELEASE
# (sglang itself); BENCHMARKS.md says how they were fetched. Each release goes into its own
# --target dir and each run gets its own PYTHONPATH: the release, the deps, the import-only
# stand-ins (patches/sglang/standins) and fluxfix built from this checkout (off in variant unpatched).
# Every run compiles cold (its own TORCHINDUCTOR_CACHE_DIR). Env: BUDGET_S (stop starting runs
# after this many seconds, default 540), RUN_TIMEOUT_S (per run, default 300), BENCH_ARGS (extra
# arguments for every run, e.g. "--double 1 --single 2").
set -u
OUTDIR=${1:?usage: run_gpu.sh OUTDIR RUN...}
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HOSTS=${HOSTS_DIR:-/tmp/fluxfix-hosts}
BUDGET_S=${BUDGET_S:-540}
RUN_TIMEOUT_S=${RUN_TIMEOUT_S:-300}
START=$(date +%s)
mkdir -p "$OUTDIR" "$HOSTS"
RESULTS="$OUTDIR/results.jsonl"
LOG="$OUTDIR/bench.log"
say() { echo "[run_gpu +$(($(date +%s) - START))s] $*" | tee -a "$LOG"; }
pipi() { python3 -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check "$@" 2>&1 | grep -v -i "warning" | tee -a "$LOG"; }

# the machine, once
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
  python3 -c 'import sys, torch, triton; print("python", sys.version.split()[0], "torch", torch.__version__, "triton", triton.__version__, "cuda", torch.version.cuda)'
  nproc; } 2>&1 | sed 's/^/[machine] /' | tee -a "$LOG"

# installs hold a lock: several run_gpu.sh may run side by side, one per GPU (CUDA_VISIBLE_DEVICES=N in a RUN)
exec 9>"$HOSTS/.install.lock"
install() {  # DIR WHAT ARGS...: install once into DIR
  local dir=$1 what=$2; shift 2
  flock 9
  [ -d "$dir" ] || { say "installing $what"; pipi --target "$dir" "$@"; }
  flock -u 9
}
install "$HOSTS/common" "common deps" "$ROOT"/.whl/common/*.whl
# doctor as `fluxfix doctor`, with the bench's harness shims: scipy.stats first (see bench_sglang.py) and,
# for Wan and Qwen-Image, sglang's CuTe DSL norms on their native path (standins/no_cutlass.py)
DOCTOR_MAIN='import sys, scipy.stats
if {"wan", "qwen-image"} & set(sys.argv):
    import no_cutlass; print("harness: stood in:", "; ".join(no_cutlass.route_to_native()))
from fluxfix.cli import main; sys.exit(main())'
# keyed by the checkout's code, so a machine kept warm between calls never runs a stale copy
FLUXFIX_DIR="$HOSTS/fluxfix-$(cd "$ROOT" && cat setup.cfg $(find fluxfix/ patches/ -name '*.py' -o -name '*.json' | sort) | md5sum | cut -c1-10)"
install "$FLUXFIX_DIR" "fluxfix from $ROOT" --no-build-isolation "$ROOT"

n=0
for spec in "$@"; do
  n=$((n + 1))
  read -r release variant mode rest <<<"$spec"
  label=""; envs=(); flags=()
  for word in $rest; do
    if [[ $word == --* ]]; then flags+=("$word"); elif [[ $word == *=* ]]; then envs+=("$word"); else label=$word; fi
  done
  left=$((BUDGET_S - ($(date +%s) - START)))
  if [ "$left" -lt 60 ]; then
    say "skip run $n ($spec): ${left}s of budget left"
    printf '{"host_version": "%s", "variant": "%s", "mode": "%s", "label": "%s", "args": "%s", "status": "skipped: budget"}\n' \
      "$release" "$variant" "$mode" "$label" "${flags[*]:-}" >>"$RESULTS"
    continue
  fi
  install "$HOSTS/$release" "sglang $release" "$ROOT"/.whl/"$release"/*.whl
  path="$FLUXFIX_DIR:$HOSTS/$release:$HOSTS/common:$ROOT/patches/sglang/standins"
  limit=$((left < RUN_TIMEOUT_S ? left : RUN_TIMEOUT_S))
  say "run $n/$#: sglang $release $variant $mode ${label:+($label) }${envs[*]:-} timeout ${limit}s"
  cache="$HOSTS/inductor-$(date +%s%N)"  # a new dir every run, also on a machine kept warm between calls
  if [ "$variant" = doctor ]; then  # $mode is the model here; doctors may run side by side
    own="$HOSTS/doctor-$release-$mode-$$"
    (cd "$HOSTS" && env -u FLUXFIX PYTHONPATH="$path" PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR="$cache" "${envs[@]}" \
       timeout -k 10 "$limit" python3 -W ignore -c "$DOCTOR_MAIN" \
       doctor --device cuda --dtype bfloat16 --model "$mode" --json "$own.json" "${flags[@]}") >"$own.txt" 2>&1
    rc=$?
    { echo "=== sglang $release doctor --model $mode ${flags[*]:-} ${envs[*]:-} (exit $rc)"; cat "$own.txt"; } >>"$OUTDIR/doctor.txt"
    python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$own.json" >>"$OUTDIR/doctor.jsonl" 2>/dev/null
    say "run $n done rc=$rc (doctor $release $mode)"
    continue
  fi
  lines=$(cat "$RESULTS" 2>/dev/null | wc -l)
  # full output to the log; progress lines and errors to the terminal
  (cd "$ROOT" && env -u FLUXFIX PYTHONPATH="$path" PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR="$cache" \
     "${envs[@]}" timeout -k 10 "$limit" python3 benchmarks/bench_sglang.py --variant "$variant" --mode "$mode" \
     --label "$label" --out "$RESULTS" "${flags[@]}" ${BENCH_ARGS:-}) 2>&1 | tee -a "$LOG" | grep --line-buffered -E '^\[bench|Error|error:'
  rc=${PIPESTATUS[0]}
  if [ "$(cat "$RESULTS" 2>/dev/null | wc -l)" -eq "$lines" ]; then  # killed before it could write
    printf '{"host_version": "%s", "variant": "%s", "mode": "%s", "label": "%s", "status": "killed (rc %s, limit %ss)"}\n' \
      "$release" "$variant" "$mode" "$label" "$rc" "$limit" >>"$RESULTS"
  fi
  say "run $n done rc=$rc: $(tail -1 "$RESULTS" | cut -c1-160)"
done
say "all done"
