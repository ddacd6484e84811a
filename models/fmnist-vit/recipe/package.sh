#!/bin/sh
# Build the stitch package from the recipe's outputs with `stitchnet build`, then its plots and
# results table. Needs the project built (`npm run build` at the repository root).
# Usage: ./package.sh            the shipped package: ../ (models/fmnist-vit), full 10k test set,
#                                latency on this machine's CPU at batch 1 and 8
#        ./package.sh --smoke DIR  the smoke recipe's outputs into DIR (a few hundred images)
set -eu
cd "$(dirname "$0")"
HERE=$(pwd)
ROOT=$(cd ../../.. && pwd)
PY=${PYTHON:-/usr/bin/python3}
DATA=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
STITCHNET="node $ROOT/dist/cli/main.js"
if [ "${1:-}" = "--smoke" ]; then
  OUT=$HERE/out/smoke
  DEST=${2:?usage: ./package.sh --smoke DIR}
  EVAL="--eval-samples 256"
  PROFILE="--profile cpu --batch 1 --warmup 1 --rounds 2"
  SMOKE=--smoke
else
  OUT=$HERE/out/full
  DEST=$(cd .. && pwd)
  EVAL=""
  PROFILE="--profile cpu --batch 1,8 --warmup 5 --rounds 30"
  SMOKE=""
fi
# Class names and the preprocessing the models expect (pixel/255, then (x - mean) / std with the
# training set's statistics), from the recipe's own constants.
LABELS=$($PY -c 'from common import LABELS; print(",".join(LABELS))')
PRE="--scale 0.00392156862745098 $($PY -c 'from common import MEAN, STD; print(f"--mean {MEAN} --std {STD}")')"
ANCHORS="tiny small base"
onnx() { for a in $ANCHORS; do printf '%s ' "$OUT/onnx/$1/$a.onnx"; done; }

# 1. The package: fine-tuned anchors + the jointly trained stitching layers.
# shellcheck disable=SC2046,SC2086
$STITCHNET build --anchors $(onnx finetuned) --out "$DEST" --name fmnist-vit \
  --description "Fashion-MNIST ViT family (DeiT-style anchors of width 32/64/128, depth 6, patch 4), SN-Net fine-tuned" \
  --stitch-weights "$OUT/finetune/stitch_weights.json" --eval "$DATA/t10k-images-idx3-ubyte.gz" $EVAL \
  --labels "$LABELS" $PRE $PROFILE
# 2. For comparison (not shipped): the standalone anchors with the least-squares stitching layers.
# shellcheck disable=SC2046,SC2086
$STITCHNET build --anchors $(onnx anchors) --out "$OUT/package-lsinit" --name fmnist-vit-lsinit \
  --stitch-weights "$OUT/finetune/stitch_weights_lsinit.json" --eval "$DATA/t10k-images-idx3-ubyte.gz" $EVAL \
  --labels "$LABELS" $PRE
# 3. Plots and the results table (ORT accuracies from the two packages next to the recipe's PyTorch ones).
mkdir -p "$DEST/plots"
$STITCHNET inspect "$DEST" --plot "$DEST/plots/pareto.svg" --plot "$DEST/plots/pareto.png" > /dev/null
$STITCHNET inspect "$DEST" --plot "$DEST/plots/finetuned-vs-lsinit.svg" --plot "$DEST/plots/finetuned-vs-lsinit.png" \
  --compare "$OUT/package-lsinit" \
  --labels "SN-Net fine-tuned,least-squares init only" > /dev/null
# shellcheck disable=SC2086
$PY report.py $SMOKE --package "$DEST" --lsinit-package "$OUT/package-lsinit" > "$DEST/plots/results.md"
echo "package: $DEST; plots and results table: $DEST/plots/"
