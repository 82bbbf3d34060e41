#!/usr/bin/env bash
# One prepared check of a GPU machine: the steps below, each under its own time limit (8 minutes in all at most, the
# 5 s of grace that each gets after its limit included), then one table of their wall time, throughput and peak GPU
# memory, with FAILED in the row of a step that failed.
# --rehearsal runs instead the VOC rehearsal (qaclims rehearse, docs/rehearsal.md) on CUDA with the preset's bf16:
# on one GPU, then with RITC under DDP on two where there are two (under 10 minutes in all, the second reusing
# the first's weight files); after the table come their forecasts of the full recipe, in GPU-hours.
# Random weights at real sizes throughout: nothing is downloaded.
#
#   bash benchmarks/gpu_check.sh             # needs a CUDA GPU, and refuses to run without one
#   bash benchmarks/gpu_check.sh --dry-run   # prints the steps and their limits, runs nothing
#   bash benchmarks/gpu_check.sh --rehearsal [--dry-run]
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
DRY_RUN=0
REHEARSAL=0
for argument in "$@"; do
    case "$argument" in
        --dry-run) DRY_RUN=1 ;;
        --rehearsal) REHEARSAL=1 ;;
        *) echo "gpu_check: unknown option $argument (--dry-run, --rehearsal)" >&2; exit 2 ;;
    esac
done

GPUS=$(python -c "import torch; print(torch.cuda.device_count())") || exit 2
if (( GPUS == 0 && ! DRY_RUN )); then
    echo "gpu_check: no CUDA GPU is visible; run it on a GPU machine (--dry-run prints the steps)" >&2
    exit 2
fi
# NCCL across 2 GPUs where there are 2; one process otherwise (NCCL refuses two processes on one GPU).
NPROC=$(( GPUS >= 2 ? 2 : 1 ))
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")

# step NAME SECONDS COMMAND...: run COMMAND under the limit, its output into WORK/NAME.log, a line into steps.tsv.
step() {
    local name=$1 limit=$2
    shift 2
    if (( DRY_RUN )); then
        echo "$name (at most $limit s): $*"
        return
    fi
    local start=$SECONDS
    timeout --kill-after=5 "$limit" "$@" > "$WORK/$name.log" 2>&1
    printf '%s\t%s\t%s\n' "$name" "$?" "$((SECONDS - start))" >> "$WORK/steps.tsv"
}

# rehearse NAME SECONDS GPUS: the VOC rehearsal on GPUS GPUs; its run folder stays in WORK/NAME for the table.
rehearse() {
    step "$1" "$2" python -m qaclims rehearse --preset voc12 --device cuda --gpus "$3" --keep --work "$WORK/$1" \
        --cache "$WORK/weights"
}

if (( REHEARSAL )); then
    rehearse rehearsal_1_gpu 400 1
    (( NPROC == 2 )) && rehearse rehearsal_2_gpu_ddp 180 2
    if (( ! DRY_RUN )); then
        python benchmarks/gpu_table.py "$WORK"
        echo "step outputs: $WORK"
    fi
    exit 0
fi

step demo 240 snakemake --cores all --config device=cuda precision=bf16 output_dir="$WORK/demo"
step vqa_blip 60 python benchmarks/vqa_throughput.py --device cuda --precision bf16
step ritc_vit_l14 45 python benchmarks/ritc_step.py --device cuda --precision bf16 --clip ViT-L-14 --batch 8 --crop 512
step seg_r101 45 python benchmarks/seg_step.py --device cuda --precision bf16 --backbone resnet101 --batch 10
step random_walk 30 python benchmarks/random_walk.py --device cuda
step "ddp_${NPROC}_process" 30 python -m torch.distributed.run --standalone --nproc_per_node="$NPROC" \
    benchmarks/ddp_step.py --device cuda

if (( ! DRY_RUN )); then
    python benchmarks/gpu_table.py "$WORK"
    echo "step outputs: $WORK"
fi
