#!/bin/sh
# The whole recipe: train the anchors, export them, SN-Net fine-tune, export the family.
# Usage: ./run.sh            full recipe (outputs in out/full/)
#        ./run.sh --smoke    tiny widths, a few hundred images, a few steps (outputs in out/smoke/)
# Every step is resumable: run the same command again after an interruption.
set -eu
cd "$(dirname "$0")"
PY=${PYTHON:-/usr/bin/python3}
export OMP_WAIT_POLICY=PASSIVE
RUN="nice -n ${NICE:-19} $PY"
$RUN train_anchors.py "$@"
$RUN export_onnx.py --stage anchors "$@"
$RUN finetune.py "$@"
$RUN report.py "$@"
