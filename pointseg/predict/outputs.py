"""What a labelling or scoring run writes into its output folder, listed once, and the checks made on it before any
scene is read: the folder can be written and no other run uses it (pointseg.io.run_lock), scene names are unique,
and none of the files it may write would replace one pointseg did not write (pointseg.io.ownership).

The writers use the same names: pointseg.io.predictions (labelled files and records), .metrics_files,
.coverage (its index) and pointseg.viz.names (pictures and report.html).
"""

from pathlib import Path

from pointseg.errors import InputError
from pointseg.io.ownership import check_replaceable
from pointseg.io.predictions import output_path, record_path
from pointseg.io.scene import scene_name
from pointseg.predict.coverage import index_files
from pointseg.predict.metrics_files import metrics_paths

HINT = "nothing was labelled; move them away or choose another --out"


def labelling_outputs(out: Path, files: list[Path], fmt: str = "auto", coverage: bool = False, pictures: bool = False) -> list[Path]:
    """Every file a labelling run of `files` may write into `out`: <scene>_pred.<format> and <scene>_pred.json per
    scene, metrics.json/.csv, the coverage index, and with `pictures` the maps, plots and report.html."""
    paths = [p for f in files for p in (output_path(out, f, fmt), record_path(out, scene_name(f)))]
    paths += metrics_paths(out)
    if coverage:
        paths += index_files(out, files)
    if pictures:
        from pointseg.viz.names import run_pictures

        paths += run_pictures(out, [scene_name(f) for f in files])
    return paths


def scoring_outputs(pred_dir: Path, names: list[str], pictures: bool = False) -> list[Path]:
    """Every file tools/evaluate.py may write into pred_dir for scenes `names`: metrics and, with `pictures`, the rest."""
    paths = list(metrics_paths(pred_dir))
    if pictures:
        from pointseg.viz.names import run_pictures

        paths += run_pictures(pred_dir, names)
    return paths


def check_unique_names(files: list[Path]) -> None:
    """Refuse inputs that give one scene name (s.txt and s.ply; a/s.las and b/s.las): they would write one output."""
    by_name: dict[str, list[Path]] = {}
    for f in files:
        by_name.setdefault(scene_name(f), []).append(f)
    twice = {n: fs for n, fs in by_name.items() if len(fs) > 1}
    if twice:
        name, clash = next(iter(twice.items()))
        more = f" (and {len(twice) - 1} more name(s))" if len(twice) > 1 else ""
        raise InputError(f"{' and '.join(map(str, clash))}: give one scene name '{name}', so both would be written to "
                         f"{name}_pred.*{more}; nothing was labelled; rename one of them or label them into separate --out folders")


def check_outputs(paths: list[Path], hint: str = HINT) -> None:
    """Refuse, naming them, outputs that exist and are not pointseg's: before any work."""
    check_replaceable(*paths, hint=hint)
