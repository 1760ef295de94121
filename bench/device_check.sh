#!/usr/bin/env bash
# The GPU checks of swin-hub in one command, for a lent GPU machine (at most ~9.5 minutes).
#
#   bash bench/device_check.sh             on the GPU machine; writes under ${OUT:-bench/results/device}
#   bash bench/device_check.sh --prepare   here, once: fills .whl/ with the wheels the GPU image lacks
#
# Device tool call: command "bash bench/device_check.sh", carry [".whl"], timeout_s 600.
#
# Steps, most important first, each with its own time limit and log; a failed or timed-out step
# does not stop the next ones, and the whole run stays inside BUDGET_S (default 560 s; later
# steps get what the earlier ones left, and are skipped when under 30 s remain):
#   env          nvidia-smi, versions, commit / code fingerprint
#   wheels       datasets + evaluate from .whl/ into /tmp/site (only the training steps use them)
#   parity       tests/test_cuda_parity.py: official fixtures and timm parity in fp32, bf16 runs
#   perf_eager   bench/perf.py, bf16, batch 128, all implementations, eager, four families
#   train_eager  `swin-hub train` on the bundled digits, Swin-T 224 px, batch 128, bf16
#   perf_compiled_train, perf_compiled_infer   torch.compile, Swin-T and ViT-B/16, swin-hub and timm
#   train_compiled   the same training run with --torch_compile
# $OUT gets at most 6 files (the device tool brings back 8): summary.md (read this first),
# logs.txt (every step's output), perf_bf16_b128_{eager,compiled_train,compiled_infer}.md
# and train.json. Each is rewritten as the run goes, so a run cut short keeps what it measured.

set -u
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "${1:-}" = "--prepare" ]; then
    # The GPU image (see the device notes) has torch, timm, transformers, accelerate, numpy,
    # pandas, pyarrow, xxhash, fsspec, scikit-learn and matplotlib, but not datasets, evaluate
    # and their two small dependencies dill and multiprocess. Those four travel as wheels, at
    # the versions this checkout is tested with, and are installed there with --no-deps so that
    # nothing shadows the image's own packages (pip --target would reinstall every dependency:
    # numpy, pandas and pyarrow alone are over 64 MiB).
    PY=${PYTHON:-.venv/bin/python}
    pins=$("$PY" -c 'import importlib.metadata as m
for n in ("datasets", "evaluate", "dill", "multiprocess"):
    try: print(f"{n}=={m.version(n)}")
    except m.PackageNotFoundError: print(n)')
    rm -rf .whl && mkdir .whl || exit 1
    # shellcheck disable=SC2086  # one word per package
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl $pins || exit 1
    ls -l .whl && du -sh .whl
    exit 0
fi

OUT=${OUT:-bench/results/device}
BUDGET_S=${BUDGET_S:-560}
PY=${PYTHON:-python3}
WORK=/tmp/swin_hub_device_check
START=$(date +%s)
DEADLINE=$((START + BUDGET_S))
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
rm -rf "$WORK" && mkdir -p "$WORK"
rm -f "$OUT"/summary.md "$OUT"/logs.txt "$OUT"/perf_*.md "$OUT"/train.json "$OUT"/.perf-*
export PYTHONPATH=$ROOT  # the checkout, not an installed swin-hub
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_EVALUATE_OFFLINE=1
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg TQDM_MININTERVAL=5

summary() {
    {
        echo "# swin-hub device check ($(date -u '+%Y-%m-%d %H:%M') UTC, $(($(date +%s) - START)) s of a ${BUDGET_S} s budget)"
        echo
        echo "| step | status | seconds |"
        echo "| --- | --- | --- |"
        cat "$WORK/steps.md" 2>/dev/null
        for name in $(cat "$WORK/failed" 2>/dev/null); do
            echo
            echo "### $name: last lines of its log (all of it in logs.txt)"
            echo
            echo '```'
            tr '\r' '\n' <"$WORK/$name.log" | grep -v '^\s*$' | tail -n 12 | cut -c 1-300
            echo '```'
        done
        echo
        echo "## Parity (tests/test_cuda_parity.py)"
        echo
        if [ -f "$WORK/parity.log" ]; then
            echo '```'
            grep -E '^(FAILED|ERROR)|(passed|failed|skipped|error)[^a-z]* in [0-9.]+s' "$WORK/parity.log" | tail -n 25
            echo '```'
        else
            echo "not run"
        fi
        for f in "$OUT"/perf_bf16_b128_{eager,compiled_train,compiled_infer}.md; do
            [ -f "$f" ] || continue
            echo
            echo "## $(basename "$f"): swin-hub vs the fastest peer"
            grep -E '^- (device|versions|matmul peak):' "$f"
            awk '/^## Summary/ {on = 1; next} on && /^#/ {exit} on' "$f"
        done
        echo
        echo "## Training throughput"
        echo
        cat "$WORK/train_report.md" 2>/dev/null || echo "not run"
        echo
        echo "## Environment"
        echo
        echo '```'
        head -n 80 "$WORK/env.log" 2>/dev/null
        echo '```'
    } >"$OUT/.summary.tmp" && mv "$OUT/.summary.tmp" "$OUT/summary.md"
}

record() {  # record STEP STATUS SECONDS
    echo "| $1 | $2 | $3 |" >>"$WORK/steps.md"
    summary
}

# step NAME LIMIT_S COMMAND...: run COMMAND for at most LIMIT_S (less if the budget is nearly
# spent), its output in $WORK/NAME.log and appended to $OUT/logs.txt; returns its exit status.
step() {
    local name=$1 cap=$2
    shift 2
    local left=$((DEADLINE - $(date +%s)))
    if ((left < 30)); then
        record "$name" "skipped: budget spent" 0
        return 1
    fi
    local limit=$((cap < left ? cap : left)) t0 rc status
    t0=$(date +%s)
    echo "== $name: up to ${limit} s ($(date -u +%T))"
    timeout -k 10 "$limit" "$@" >"$WORK/$name.log" 2>&1
    rc=$?
    case $rc in
        0) status=ok ;;
        124 | 137) status="TIMED OUT at ${limit} s" ;;
        *) status="failed (exit $rc)" ;;
    esac
    {
        echo "===== $name: $status after $(($(date +%s) - t0)) s: $*"
        tr '\r' '\n' <"$WORK/$name.log" | tail -c 500000
        echo
    } >>"$OUT/logs.txt"
    rm -f "$OUT"/.perf-*  # a perf.py temp file left by a timeout
    [ "$rc" = 0 ] || echo "$name" >>"$WORK/failed"
    record "$name" "$status" $(($(date +%s) - t0))
    return $rc
}

skip() {  # skip STEP REASON
    record "$1" "skipped: $2" 0
}

# --- a. environment ---------------------------------------------------------------------------
step env 60 bash -c 'nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv
                     echo; "$1" bench/device_check.py env' _ "$PY"

# --- b. wheels for the training steps ---------------------------------------------------------
TRAIN_PATH=/tmp/site:$ROOT
if compgen -G ".whl/*.whl" >/dev/null; then
    step wheels 90 bash -c 'rm -rf /tmp/site && "$1" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --target /tmp/site .whl/*.whl && PYTHONPATH=/tmp/site:$PYTHONPATH "$1" bench/device_check.py deps' _ "$PY"
else
    skip wheels "no .whl/ folder (run bash bench/device_check.sh --prepare here and carry .whl)"
fi

# --- c. CUDA parity ---------------------------------------------------------------------------
step parity 150 "$PY" -m pytest -q -rfEs -p no:cacheprovider tests/test_cuda_parity.py

# --- d, e. benchmark and training, the most wanted numbers first ------------------------------
PERF=("$PY" bench/perf.py --device cuda --dtype bf16 --batch 128 --reps 5 --min-time 0.25)
TRAIN=("$PY" -m swin_hub.train --model_name_or_path scratch_swin_t --per_device_train_batch_size 128
       --per_device_eval_batch_size 256 --num_train_epochs 4 --mixed_precision bf16 --hflip 0
       --checkpointing_steps no --overwrite_output_dir --seed 0)
if PYTHONPATH=$TRAIN_PATH timeout 120 "$PY" -c "import datasets, evaluate" >/dev/null 2>&1; then
    can_train=1
else
    can_train=0
fi

train_report() {
    timeout 60 "$PY" bench/device_check.py train-report --perf "$OUT/perf_bf16_b128_eager.md" \
        --perf-compiled "$OUT/perf_bf16_b128_compiled_train.md" --json "$OUT/train.json" \
        eager="$WORK/train_eager" compiled="$WORK/train_compiled" >"$WORK/train_report.md" 2>&1
    summary
}

step perf_eager 220 "${PERF[@]}" --families swin_t,vit_b16,swin_b,vit_s16,swinv2_t --modes infer8,train8 \
    --compile eager --out "$OUT/perf_bf16_b128_eager.md"

if ((can_train)); then
    step train_eager 120 env PYTHONPATH="$TRAIN_PATH" "${TRAIN[@]}" --output_dir "$WORK/train_eager"
    train_report
else
    skip train_eager "datasets / evaluate do not import (see the wheels step)"
fi

# compiling is slow (minutes per family and mode): swin-hub and timm only, training first
step perf_compiled_train 240 "${PERF[@]}" --families swin_t,vit_b16 --modes train8 --impls swin-hub,timm \
    --compile compiled --out "$OUT/perf_bf16_b128_compiled_train.md"
step perf_compiled_infer 150 "${PERF[@]}" --families swin_t,vit_b16 --modes infer8 --impls swin-hub,timm \
    --compile compiled --out "$OUT/perf_bf16_b128_compiled_infer.md"

if ((!can_train)); then
    skip train_compiled "datasets / evaluate do not import (see the wheels step)"
elif ! grep -q -- '"--torch_compile"' swin_hub/train/args.py; then
    skip train_compiled "this checkout's swin-hub train has no --torch_compile"
else
    step train_compiled 240 env PYTHONPATH="$TRAIN_PATH" "${TRAIN[@]}" --torch_compile --output_dir "$WORK/train_compiled"
    train_report
fi

summary
echo "== done in $(($(date +%s) - START)) s; read $OUT/summary.md"
