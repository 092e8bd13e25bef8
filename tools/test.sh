#!/usr/bin/env bash
# Distributed testing with torchrun, as mmseg's dist_test.sh:
#   tools/test.sh CONFIG CHECKPOINT GPUS [tools/test.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. PYTHON picks the interpreter (default: python on PATH).
exec "$(dirname "$0")/_torchrun.sh" "$3" test.py "$1" "$2" --launcher pytorch "${@:4}"
