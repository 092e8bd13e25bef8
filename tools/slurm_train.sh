#!/usr/bin/env bash
# Training on Slurm, as mmseg's slurm_train.sh:
#   [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [tools/train.py args]
# PYTHON picks the interpreter (default: python on PATH).
PY_ARGS=("${@:4}")
# an optional 4th argument that is not an option is the work_dir
if [ $# -ge 4 ] && [[ "$4" != -* ]]; then
  PY_ARGS=(--work-dir "$4" "${@:5}")
fi
exec "$(dirname "$0")/_srun.sh" "$1" "$2" train.py "$3" --launcher slurm "${PY_ARGS[@]}"
