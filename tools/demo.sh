#!/usr/bin/env bash
# End to end on CPU: synthetic STPLS3D scenes -> prepare -> train -> infer -> labelled PLY + metrics.
# Everything lands in runs/demo (kept out of git). A few minutes on a laptop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
export PYTHONWARNINGS=ignore
PY=.venv/bin/python
OUT=${DEMO_DIR:-runs/demo}
rm -rf "$OUT" && mkdir -p "$OUT"
$PY tools/make_synthetic.py --out "$OUT/raw" --scenes 1-5 --size 100          # scenes 1-4 train/val, 5 test
$PY tools/prepare_stpls3d.py --src "$OUT/raw" --out "$OUT/prepared" --config configs/cpu_demo.yaml
$PY tools/train.py --config configs/cpu_demo.yaml --data "$OUT/prepared" --work-dir "$OUT/work" --device cpu
$PY tools/infer.py --ckpt "$OUT/work/best.pt" --input "$OUT/raw/5_points_GTv3.txt" --out "$OUT/pred" --device cpu --pictures
echo "labelled scene: $OUT/pred/5_points_GTv3_pred.ply; scores: $OUT/pred/metrics.csv"
echo "pictures: $OUT/pred/pictures/; report (open in a browser): $OUT/pred/report.html; training curves: $OUT/work/training_curves.png"
