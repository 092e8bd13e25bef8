#!/usr/bin/env bash
# Fill .whl/ with what a GPU machine without a package registry lacks for the GPU suite (Python 3.12, x86-64
# manylinux): the OpenMMLab wheels and their pure-Python needs, rasterio and its needs, and the mmcv 2.1.0
# sdist whose CPU ops bench/gpu_suite/gpu_suite.sh builds on the GPU machine. Run it once on a machine with
# the registry, in the checkout to copy to the GPU machine together with .whl/, then there
#   bash bench/gpu_suite/gpu_suite.sh      (docs/gpu_suite.md)
#
#   PYTHON=python3        the interpreter whose pip downloads (any version: the targets are given)
#   --check               print the pip commands instead of running them
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
DEST=.whl
MAX_MIB=60  # the checkout copied to the GPU machine (working tree + .whl) stays under 64 MiB

# one version of each (two stop the install there); versions as tested on the CPU machines
WHEELS=(mmengine==0.10.7 mmsegmentation==1.2.2 mmpretrain==1.2.0
        addict==2.4.0 yapf==0.43.0 platformdirs==4.14.9 termcolor==3.3.0 prettytable==3.18.0 wcwidth==0.9.4
        mat4py==0.6.0 modelindex==0.0.2 model-index==0.1.11 ordered-set==4.1.0 ftfy==6.3.1
        importlib-metadata==8.5.0 'setuptools<81'
        rasterio==1.4.4 affine==3.0.1 cligj==0.7.2 click-plugins==1.1.1.2)
TARGET=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)
STAGING=$(mktemp -d "${TMPDIR:-/tmp}/whl.XXXXXX")
trap 'rm -rf "$STAGING"' EXIT
WHEEL_CMD=("$PY" -m pip download --no-deps "${TARGET[@]}" -d "$STAGING" "${WHEELS[@]}")
# the sdist's metadata step imports torch: no build isolation (torch is in the local environment)
SDIST_CMD=("$PY" -m pip download --no-deps --no-binary :all: --no-build-isolation -d "$STAGING" mmcv==2.1.0)

if [ "${1:-}" = --check ]; then
  printf '%q ' "${WHEEL_CMD[@]}"; echo
  printf '%q ' "${SDIST_CMD[@]}"; echo
  exit 0
fi
"${WHEEL_CMD[@]}"
"${SDIST_CMD[@]}"
test -f "$STAGING/mmcv-2.1.0.tar.gz" || { echo "error: no mmcv-2.1.0.tar.gz was downloaded" >&2; exit 1; }
size=$(du -sm "$STAGING" | cut -f1)
if [ "$size" -gt "$MAX_MIB" ]; then
  echo "error: the wheels take $size MiB, more than $MAX_MIB MiB; .whl/ left as it was" >&2
  exit 1
fi
# .gitignore keeps .whl/ out of git; it is copied to the GPU machine with the checkout
rm -rf "$DEST"
mv "$STAGING" "$DEST"
trap - EXIT
echo "$DEST/: $(ls "$DEST" | wc -l) files, $size MiB"
ls "$DEST"
