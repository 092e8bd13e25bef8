#!/usr/bin/env bash
# Shared by train.sh, test.sh and infer_tiles.sh: run tools/SCRIPT with torchrun, NPROC processes per node.
#   tools/_torchrun.sh NPROC SCRIPT [SCRIPT args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT (as mmseg's dist_*.sh). PYTHON picks the interpreter.
set -e
NPROC=$1
SCRIPT=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)

# One process per GPU (mmengine's pytorch launcher sets the CUDA device of each): without enough GPUs every
# process would die in torch.cuda.set_device and torchrun would print a ChildFailedError traceback. Processes
# asked to run on the CPU (--device cpu, which infer_tiles.py takes) need no GPU. Only a number stops the
# launch; anything else (e.g. a stand-in interpreter) leaves the check to torchrun. An
# interpreter without torch stops here too, with what to do, instead of torchrun's "No module named 'torch'".
# The last line is the count, or the import error (warnings on stderr come first: stdout is flushed at exit).
PY=${PYTHON:-python}
GPUS=$("$PY" -c 'import torch; print(torch.cuda.device_count())' 2>&1 | tail -n 1 || true)
if [[ "$GPUS" == *"No module named 'torch'"* ]]; then
    echo "error: tools/${SCRIPT%.py}.sh runs $PY ($(command -v "$PY" || echo 'not found')), which cannot import torch." >&2
    echo "Activate the environment that holds torch and the plugin, or name its interpreter: PYTHON=/path/to/python tools/${SCRIPT%.py}.sh ..." >&2
    exit 1
fi
ON_CPU=0
PREVIOUS=
for ARG in "${@:3}"; do
    if [[ "$ARG" == --device=cpu || ( "$PREVIOUS" == --device && "$ARG" == cpu ) ]]; then
        ON_CPU=1
    fi
    PREVIOUS=$ARG
done
if (( ! ON_CPU )) && [[ "$GPUS" =~ ^[0-9]+$ ]] && (( GPUS < NPROC )); then
    case $SCRIPT in
        train.py) SINGLE="python tools/train.py CONFIG [args]" ;;
        test.py) SINGLE="python tools/test.py CONFIG CHECKPOINT [args]" ;;
        infer_tiles.py) SINGLE="python tools/infer_tiles.py CONFIG CHECKPOINT INPUTS --out-dir DIR [args]
or $NPROC processes on the CPU: tools/infer_tiles.sh CONFIG CHECKPOINT INPUTS $NPROC --out-dir DIR --device cpu [args]" ;;
    esac
    echo "error: tools/${SCRIPT%.py}.sh starts $NPROC process(es), one per GPU, but this machine has $GPUS CUDA GPU(s)." >&2
    echo "Run a single process instead (on the CPU if there is no GPU): $SINGLE" >&2
    exit 1
fi

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
"$PY" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" --nproc_per_node="$NPROC" \
    "$ROOT/tools/$SCRIPT" "${@:3}"
