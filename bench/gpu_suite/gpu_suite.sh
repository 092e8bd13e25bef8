#!/usr/bin/env bash
# The GPU suite in one command on a GPU machine without a package registry (docs/gpu_suite.md), from a
# checkout holding the .whl/ folder that bench/gpu_suite/prepare_gpu_wheels.sh fills:
#   bash bench/gpu_suite/gpu_suite.sh
# Installs the OpenMMLab stack from .whl/ (about 2 minutes: the wheels into $SUITE_STACK_DIR/site, /tmp/site
# by default, and mmcv's CPU ops built from the sdist; both kept for the next run on the same machine), runs
# bench/gpu_suite/gpu_suite.py in what is left of SUITE_TOTAL_S seconds (480 by default: the whole command
# ends within 10 minutes) and prints the report. Everything lands in $OUT (work_dirs/gpu_suite without one):
# gpu_suite.json, gpu_suite.md, gpu_suite_worker.log, gpu_suite_install.log.
#   bash bench/gpu_suite/gpu_suite.sh --rows bench_sdcluster,bench_sdsh    # arguments go to gpu_suite.py
set -uo pipefail
cd "$(dirname "$0")/../.."
T0=$(date +%s)
TOTAL=${SUITE_TOTAL_S:-480}
REPORT_S=15  # kept back for the report
OUT=${OUT:-work_dirs/gpu_suite}
mkdir -p "$OUT"
LOG="$OUT/gpu_suite_install.log"
STACK=${SUITE_STACK_DIR:-/tmp}  # the wheels go to $STACK/site, mmcv is built in $STACK/mmcvb
SITE=$STACK/site
MMCV=$STACK/mmcvb/mmcv-2.1.0

install_stack() {
  ls .whl/*.whl >/dev/null 2>&1 && [ -f .whl/mmcv-2.1.0.tar.gz ] || {
    echo "error: .whl/ lacks the wheels or mmcv-2.1.0.tar.gz: run bench/gpu_suite/prepare_gpu_wheels.sh first" \
         "and copy .whl/ with the checkout" >&2; return 1; }
  rm -rf "$SITE"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .whl/*.whl \
    >>"$LOG" 2>&1 || { tail -30 "$LOG"; return 1; }
  if ! ls "$MMCV"/mmcv/_ext*.so >/dev/null 2>&1; then
    mkdir -p "$STACK/mmcvb" && tar xzf .whl/mmcv-2.1.0.tar.gz -C "$STACK/mmcvb"
    (cd "$MMCV" && PYTHONPATH=$SITE CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) \
       python3 setup.py build_ext --inplace >>"$LOG" 2>&1) || { tail -30 "$LOG"; return 1; }
  fi
}

install_stack || exit 1
export PYTHONPATH=$MMCV:$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}
python3 -c "import mmcv.ops, mmseg.models, mmpretrain.models, rasterio, torch, rs_ssl_plugin; \
print('stack ok: mmcv', mmcv.__version__, 'torch', torch.__version__, \
      torch.cuda.get_device_name() if torch.cuda.is_available() else 'and no GPU')" \
  || { echo "error: the stack does not import; see $LOG" >&2; exit 1; }
INSTALL_S=$(( $(date +%s) - T0 ))
BUDGET=$(( TOTAL - INSTALL_S - REPORT_S ))
echo "stack ready in ${INSTALL_S} s; ${BUDGET} s for the rows"
PYTHONUNBUFFERED=1 python3 bench/gpu_suite/gpu_suite.py --out-dir "$OUT" --budget "$BUDGET" "$@"
status=$?
python3 bench/gpu_suite/gpu_suite_report.py "$OUT/gpu_suite.json" --out "$OUT/gpu_suite.md"
echo "total $(( $(date +%s) - T0 )) s"
exit $status
