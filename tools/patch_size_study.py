"""Patch size and objects cut by patch borders: python tools/patch_size_study.py configs/study/patch_size.yaml [--root runs/patch_size].

For each row of the study (a patch size with its strides and batch), trains a model (as tools/recipe_study.py; a cut
row resumes), labels the test scenes twice, with overlapping patches (the row's infer.stride, half a patch) and with
patches side by side (stride = patch size), and reports per labelling: OA, mIoU, OA of the points within 5 m of a
border of the side-by-side lattice and of the others, and the seconds it took. ROOT/patch_size.md holds the table.
"""

import json
from pathlib import Path

import _bootstrap  # noqa: F401

from pointseg import cli


def main() -> None:
    ap = cli.argument_parser(__doc__)
    ap.add_argument("study", help="a study YAML whose rows set data.patch_size, the strides and the batch")
    ap.add_argument("--root", default="runs/patch_size")
    ap.add_argument("--device", default="cpu", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--near", type=float, default=5.0, help="metres from a patch border that count as near it")
    args = cli.parse(ap)

    import numpy as np

    from pointseg.data.manifest import load_manifest
    from pointseg.distributed import pick_device
    from pointseg.io import read_prediction, read_scene
    from pointseg.io.atomic import atomic_write_text
    from pointseg.io.predictions import output_path
    from pointseg.predict.label import label_scenes
    from pointseg.study import border_distance, border_scores, ensure_study_scenes, load_study, prepared_for, run_model

    study, configs = load_study(args.study)
    root = Path(args.root)
    src = root / "raw"
    ensure_study_scenes(study.data, src)
    rows = ["| patch (m) | test stride (m) | OA | mIoU | OA within 5 m of a border | OA farther | share near | labelling s |", "|---|---|---|---|---|---|---|---|"]
    results = []
    for row in study.rows:  # a loop over patch sizes
        cfg = configs[row.name]
        run_model(row.name, cfg, src, root, args.device, command=f"python tools/patch_size_study.py {args.study}")
        ckpt = root / row.name / "best.pt"
        tests = [src / s["file"] for s in load_manifest(prepared_for(src, root, cfg))["scenes"] if s["role"] == "test"]
        size = cfg.data.patch_size
        for stride in (cfg.infer.stride, size):
            out = root / row.name / f"stride_{stride:g}"
            done = label_scenes(ckpt, tests, out, pick_device(args.device), settings={"infer": {"stride": stride}}, progress=False,
                                skip_existing=True)
            seconds = sum(done["seconds"].values())  # each scene's labelling as its record says (also when labelled by an earlier run)
            truth, pred, distance = [], [], []
            for test in tests:  # a loop over scenes
                scene = read_scene(test)
                truth.append(scene.labels)
                pred.append(read_prediction(output_path(out, test, cfg.infer.output_format)).pred)
                distance.append(border_distance(scene.local_xyz()[:, :2].astype(np.float64), size))
            s = border_scores(np.concatenate(truth), np.concatenate(pred), np.concatenate(distance), args.near)
            results.append({"row": row.name, "patch": size, "stride": stride, "seconds": seconds, **s})
            rows.append(f"| {size:g} | {stride:g} | {100 * s['oa']:.1f} | {100 * s['miou']:.1f} | {100 * s['oa_near_border']:.1f} | "
                        f"{100 * s['oa_inside']:.1f} | {100 * s['share_near_border']:.0f}% | {seconds:.0f} |")
            print(rows[-1], flush=True)
    atomic_write_text(root / "patch_size.json", json.dumps(results, indent=1))
    atomic_write_text(root / "patch_size.md", "\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    cli.run(main)
