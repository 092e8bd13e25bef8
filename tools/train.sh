#!/usr/bin/env bash
# Distributed training with torchrun, as mmseg's dist_train.sh:
#   tools/train.sh CONFIG GPUS [tools/train.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. PYTHON picks the interpreter (default: python on PATH).
exec "$(dirname "$0")/_torchrun.sh" "$2" train.py "$1" --launcher pytorch "${@:3}"
