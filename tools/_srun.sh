#!/usr/bin/env bash
# Shared by slurm_train.sh and slurm_test.sh: run tools/SCRIPT under srun.
#   [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS=...] tools/_srun.sh PARTITION JOB_NAME SCRIPT [args]
# PYTHON picks the interpreter (default: python on PATH).
set -x
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# SRUN_ARGS is unquoted on purpose: it holds several srun options
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" --ntasks="${GPUS:-4}" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$ROOT/tools/$SCRIPT" "${@:4}"
