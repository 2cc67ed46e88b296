"""The recipe study: python tools/recipe_study.py configs/study/cpu_recipe.yaml [--root runs/study] [--rows a,b] [--device cpu].

Writes the study's synthetic scenes (once), then for each row: prepare (once per data config), train
with the row's overrides (a cut row resumes, a finished one is skipped), label the test scenes, and
print one markdown table of test OA / mIoU / per-class IoU with the validation mIoU, steps, minutes
and the ASPP diagnostic. Results stay in ROOT/<row>/results.json; ROOT/table.md holds the table.
"""

from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli
import yaml

from pointseg.config import load_config
from pointseg.synthetic.files import parse_scene_numbers, write_synthetic_scenes
from pointseg.engine.experiments import markdown_table, run_model, write_table


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("study", help="a study YAML: base config, data, rows")
    ap.add_argument("--root", default="runs/study")
    ap.add_argument("--rows", default=None, help="comma-separated row names (default: all)")
    ap.add_argument("--device", default="cpu", choices=["auto", "cuda", "cpu"])
    args = ap.parse_args()
    study_path = Path(args.study)
    study = yaml.safe_load(study_path.read_text())
    root = Path(args.root)
    src = root / "raw"
    scenes = parse_scene_numbers(str(study["data"]["scenes"]))
    missing = [n for n in scenes if not (src / f"{n}_points_GTv3.txt").is_file()]
    if missing:
        write_synthetic_scenes(src, missing, size=float(study["data"]["size"]))
    wanted = set(args.rows.split(",")) if args.rows else None
    results = []
    for row in study["rows"]:
        if wanted is not None and row["name"] not in wanted:
            continue
        overrides = [str(o) for o in row.get("overrides", [])]
        cfg = load_config(study_path.parent / study["base"], overrides)
        command = f"python tools/recipe_study.py {study_path} --rows {row['name']}"
        result = run_model(row["name"], cfg, src, root, args.device, command=command, checkpoint_of=row.get("checkpoint_of"))
        aspp = ", ".join(f"d{d}: {v:.2f}" for d, v in result.aspp.items()) or "no ASPP"
        print(f"{row['name']}: test OA {100 * result.test['oa']:.1f}, mIoU {100 * result.test['miou']:.1f}; "
              f"val mIoU {100 * result.val_miou:.1f}; ASPP active neighbours {aspp}; overrides {' '.join(overrides) or '-'}", flush=True)
        results.append(result)
    table = markdown_table(results)
    write_table(root / ("table.md" if wanted is None else f"table_{'_'.join(sorted(wanted))}.md"), table)
    print(table)


if __name__ == "__main__":
    cli.run(main)
