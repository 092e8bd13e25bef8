#!/usr/bin/env bash
# Idempotent install of rs_ssl_plugin and its OpenMMLab stack into a virtual environment.
#
#   VENV=.venv (default)        environment to create or reuse
#   PYTHON=/path/to/python      use this existing interpreter/environment instead (e.g. a GPU conda env)
#   RS_SSL_CACHE=~/.cache/rs_ssl_plugin   where built mmcv wheels are kept, keyed by torch version
#
# A compatible torch + torchvision already present in the environment is kept; otherwise torch 2.14.1 /
# torchvision 0.29.1 are installed. mmcv 2.1.0 ships no wheels for recent torch, so its ops are built from the
# sdist once per torch version and the wheel is cached.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
CACHE=${RS_SSL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rs_ssl_plugin}
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}

if [ -n "${PYTHON:-}" ]; then
  PY=$PYTHON
else
  [ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
  PY=$(cd "$VENV" && pwd)/bin/python
fi
# setuptools>=81 drops pkg_resources, which mmcv 2.1.0's setup.py and mmengine 0.10.7 import: pin it in every call
# so no dependency resolution upgrades it.
pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@" 'setuptools<81'; }

stamp_inputs="$(cat tools/install.sh requirements/*.txt setup.py)"
STAMP=$("$PY" -c 'import sys,hashlib; print(hashlib.sha1(sys.stdin.read().encode()).hexdigest())' <<<"$stamp_inputs")
STAMP_FILE=$("$PY" -c 'import sys; print(sys.prefix)')/.rs_ssl_plugin_installed
if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$STAMP" ] && "$PY" -c 'import rs_ssl_plugin, mmcv.ops' 2>/dev/null; then
  echo "[install] environment up to date ($PY)"; exit 0
fi

echo "[install] build tools"
pip_install wheel ninja

if "$PY" -c 'import torch, torchvision; assert tuple(map(int, torch.__version__.split(".")[:2])) >= (2, 0)' 2>/dev/null; then
  echo "[install] keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  echo "[install] installing $TORCH_SPEC"
  # shellcheck disable=SC2086
  pip_install $TORCH_SPEC
fi

TORCH_VERSION=$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')
PY_TAG=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
WHEEL_DIR=$CACHE/mmcv-2.1.0/torch-$TORCH_VERSION-$PY_TAG-$(uname -m)
if ! "$PY" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
  if ! ls "$WHEEL_DIR"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    echo "[install] building mmcv 2.1.0 ops from source for torch $TORCH_VERSION (20-25 minutes on 2 cores, once)"
    BUILD=$(mktemp -d)
    trap 'rm -rf "$BUILD"' EXIT
    "$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$BUILD" mmcv==2.1.0
    tar xzf "$BUILD"/mmcv-2.1.0.tar.gz -C "$BUILD"
    # torch >= 2.14 headers need C++20; mmcv 2.1.0's setup.py hard-codes -std=c++17.
    if "$PY" -c 'import torch, sys; sys.exit(tuple(map(int, torch.__version__.split(".")[:2])) < (2, 14))'; then
      sed -i 's/-std=c++17/-std=c++20/g' "$BUILD"/mmcv-2.1.0/setup.py
    fi
    (cd "$BUILD"/mmcv-2.1.0 && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
      "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$BUILD/dist" .)
    mkdir -p "$WHEEL_DIR"
    cp "$BUILD"/dist/mmcv-2.1.0-*.whl "$WHEEL_DIR"/
  else
    echo "[install] reusing cached mmcv wheel from $WHEEL_DIR"
  fi
  pip_install --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-2.1.0-*.whl
fi

echo "[install] OpenMMLab stack and plugin"
pip_install -r requirements/runtime.txt -r requirements/tests.txt
pip_install --no-deps --no-build-isolation -e .
"$PY" -c 'import mmcv.ops, mmseg.models, mmpretrain.models, rs_ssl_plugin; print("[install] ok: mmcv", mmcv.__version__, "mmseg", __import__("mmseg").__version__, "mmpretrain", __import__("mmpretrain").__version__)'
echo "$STAMP" > "$STAMP_FILE"
