#!/usr/bin/env bash
# Shared by train.sh and test.sh: run tools/SCRIPT with torchrun, NPROC processes per node.
#   tools/_torchrun.sh NPROC SCRIPT [SCRIPT args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT (as mmseg's dist_*.sh). PYTHON picks the interpreter.
set -e
NPROC=$1
SCRIPT=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
"${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" --nproc_per_node="$NPROC" \
    "$ROOT/tools/$SCRIPT" "${@:3}"
