#!/usr/bin/env bash
# End to end on CPU: realistic synthetic STPLS3D scenes -> prepare -> train -> infer -> labelled PLY, metrics,
# pictures and report.html. Everything lands in runs/demo (kept out of git). About 6 minutes on 2 cores on 2026-11-23, 17 on 2026-12-02 (README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
export PYTHONWARNINGS=ignore
PY=.venv/bin/python
OUT=${DEMO_DIR:-runs/demo}
# removes an earlier demo's folder only if the demo made it and it holds nothing but pointseg's own files
$PY -m pointseg.io.ownership clear demo "$OUT" || { echo "demo.sh: set DEMO_DIR to another folder" >&2; exit 2; }
$PY -m pointseg.io.ownership mark demo "$OUT"
start=$(date +%s)
$PY tools/make_synthetic.py --out "$OUT/raw" --scenes 1-9 --size 100 --workers 2 > /dev/null   # 1-4, 6-9 train/val; 5 test
$PY tools/prepare_stpls3d.py --src "$OUT/raw" --out "$OUT/prepared" --config configs/cpu_demo.yaml --workers 2 data.test_scenes=[5]
$PY tools/train.py --config configs/cpu_demo.yaml --data "$OUT/prepared" --work-dir "$OUT/work" --device cpu
$PY tools/infer.py --ckpt "$OUT/work/best.pt" --input "$OUT/raw/5_points_GTv3.txt" --out "$OUT/pred" --device cpu --pictures
echo "demo: $(( $(date +%s) - start )) s"
echo "labelled scene: $OUT/pred/5_points_GTv3_pred.ply; scores: $OUT/pred/metrics.csv"
echo "pictures: $OUT/pred/report.html (open it in a browser), $OUT/pred/pictures/, training curves: $OUT/work/training_curves.png"
