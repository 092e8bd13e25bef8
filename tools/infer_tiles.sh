#!/usr/bin/env bash
# Inference over an archive with torchrun, the scenes shared among the processes (docs/inference.md):
#   tools/infer_tiles.sh CONFIG CHECKPOINT INPUTS GPUS --out-dir DIR [tools/infer_tiles.py args]
# One process per GPU; with --device cpu, GPUS processes on the CPU. INPUTS: a folder or a scene file.
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. PYTHON picks the interpreter (default: python on PATH).
exec "$(dirname "$0")/_torchrun.sh" "$4" infer_tiles.py "$1" "$2" "$3" --launcher pytorch "${@:5}"
