#!/usr/bin/env bash
# Testing on Slurm, as mmseg's slurm_test.sh:
#   [GPUS=4] [GPUS_PER_NODE=4] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py args]
# PYTHON picks the interpreter (default: python on PATH).
exec "$(dirname "$0")/_srun.sh" "$1" "$2" test.py "$3" "$4" --launcher slurm "${@:5}"
