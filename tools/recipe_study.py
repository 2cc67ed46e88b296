"""The recipe study: python tools/recipe_study.py configs/study/cpu_recipe.yaml [--root runs/study] [--rows a,b] [--device cpu].

Writes the study's synthetic scenes (once), then for each row: prepare (once per data config), train
with the row's overrides (a cut row resumes, a finished one is skipped), label the test scenes, and
print one markdown table of test OA / mIoU / per-class IoU with the validation mIoU, steps, minutes
and the ASPP diagnostic. Results stay in ROOT/<row>/results.json; ROOT/table.md holds the table.
The study file and every row's overrides are checked before any work starts.
"""

from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli
from pointseg.errors import ConfigError


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("study", help="a study YAML: base config, data, rows")
    ap.add_argument("--root", default="runs/study")
    ap.add_argument("--rows", default=None, help="comma-separated row names (default: all)")
    ap.add_argument("--device", default="cpu", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--workers", type=int, default=1, help="processes writing the synthetic scenes")
    args = cli.parse(ap)

    from pointseg.study import ensure_study_scenes, load_study, markdown_table, run_model, write_table

    study, configs = load_study(args.study)
    wanted = set(args.rows.split(",")) if args.rows else None
    unknown = sorted((wanted or set()) - set(configs))
    if unknown:
        raise ConfigError(f"--rows: {unknown} are not rows of {args.study} (it has {', '.join(configs)})")
    root = Path(args.root)
    src = root / "raw"
    ensure_study_scenes(study.data, src, args.workers)
    results = []
    for row in study.rows:
        if wanted is not None and row.name not in wanted:
            continue
        command = f"python tools/recipe_study.py {args.study} --rows {row.name}"
        result = run_model(row.name, configs[row.name], src, root, args.device, command=command, checkpoint_of=row.checkpoint_of or None)
        aspp = ", ".join(f"d{d}: {v:.2f}" for d, v in result.aspp.items()) or "no ASPP"
        print(f"{row.name}: test OA {100 * result.test['oa']:.1f}, mIoU {100 * result.test['miou']:.1f}; "
              f"val mIoU {100 * result.val_miou:.1f}; ASPP active neighbours {aspp}; overrides {' '.join(row.overrides) or '-'}", flush=True)
        results.append(result)
    table = markdown_table(results)
    write_table(root / ("table.md" if wanted is None else f"table_{'_'.join(sorted(wanted))}.md"), table)
    print(table)


if __name__ == "__main__":
    cli.run(main)
