#!/usr/bin/env bash
# Re-train a shipped model from its config, on the CPU by default: bash tools/train_shipped.sh photogrammetry|lidar [DEVICE]
# Writes synthetic scenes, prepares them, trains, labels the held-out test scenes, and exports the checkpoint (weights,
# config, training record; no optimizer state) to pointseg/checkpoints/NAME.pt. Work files go to runs/shipped/NAME/.
# A cut run resumes where it stopped (train.py --resume); an existing export is replaced only if pointseg wrote it (the
# checkpoint as the repository ships it counts as pointseg's; one a user changed or put there does not).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?usage: tools/train_shipped.sh photogrammetry|lidar [cpu|cuda|auto]}
DEVICE=${2:-cpu}
bash tools/install.sh
export PYTHONWARNINGS=ignore
PY=.venv/bin/python
ROOT=runs/shipped/$NAME
case "$NAME" in
  photogrammetry)
    $PY -c "from pointseg.synthetic.files import ensure_scenes as e; e('$ROOT/raw', list(range(1, 17)), 150.0, workers=2)"
    PATTERN="*_points_GTv3.txt" ;;
  lidar)
    $PY -c "from pointseg.synthetic.las_scene import ensure_lidar_scenes as e; e('$ROOT/raw', list(range(1, 17)), 150.0, [4, 8, 16, 32], workers=2)"
    PATTERN="*_lidar.laz" ;;
  *) echo "train_shipped.sh: unknown model $NAME (photogrammetry or lidar)" >&2; exit 2 ;;
esac
[ -f "$ROOT/prepared/manifest.json" ] || $PY tools/prepare_stpls3d.py --src "$ROOT/raw" --out "$ROOT/prepared" --config "$NAME" --workers 2
RESUME=""  # a cut run resumes; one cut before its first checkpoint starts over (its config moved aside)
if [ -f "$ROOT/work/last.pt" ]; then RESUME="--resume"; elif [ -f "$ROOT/work/config.json" ]; then RESUME="--restart"; fi
$PY tools/train.py --config "$NAME" --data "$ROOT/prepared" --work-dir "$ROOT/work" --device "$DEVICE" $RESUME
TESTS=$($PY -c "import json; m = json.load(open('$ROOT/prepared/manifest.json')); print(' '.join('$ROOT/raw/' + s['file'] for s in m['scenes'] if s['role'] == 'test'))")
for t in $TESTS; do $PY tools/infer.py --ckpt "$ROOT/work/best.pt" --input "$t" --out "$ROOT/test" --device "$DEVICE" --skip-existing; done
$PY tools/evaluate.py --pred "$ROOT/test" --gt "$ROOT/raw" --class-map "$( [ "$NAME" = lidar ] && echo synthetic_lidar || echo asprs )"
$PY -c "
from pointseg.models.checkpoint import export_checkpoint
from pointseg.io.ownership import adopt
import json, platform, os, subprocess
dst = 'pointseg/checkpoints/$NAME.pt'
git = lambda *a: subprocess.run(['git', *a], capture_output=True).returncode == 0
if os.path.exists(dst) and git('ls-files', '--error-unmatch', dst) and git('diff', '--quiet', '--', dst):
    adopt(dst)  # the checkpoint as this repository ships it is pointseg's own: a re-train replaces it
m = json.load(open('$ROOT/test/metrics.json'))['all']
card = {'trained_with': 'bash tools/train_shipped.sh $NAME $DEVICE', 'host': f'{platform.node()}, {os.cpu_count()} CPU cores',
        'test_oa': m['oa'], 'test_miou': m['miou']}
print(export_checkpoint('$ROOT/work/best.pt', dst, card))"
