"""The record <scene>_pred.json written after each labelled file (points, confusion matrix, seconds, settings, and
what it was made from): it marks a finished scene, so an interrupted run resumes with --skip-existing.

A record ties its output to the checkpoint and settings (`settings`, with the checkpoint's sha256) and to the
input files (`inputs`: size, modification time and, for the scene's own file, sha256; a coverage tile also lists
the neighbours whose points it used). --skip-existing keeps an output only while all of these are unchanged: other
settings stop the run before any work (the output folder would mix two runs), a changed input is labelled again.
"""

import json
import logging
from pathlib import Path
from typing import Any

from pointseg.errors import InputError
from pointseg.io.atomic import atomic_write_text
from pointseg.io.identity import file_sha256
from pointseg.io.predictions import record_path

log = logging.getLogger(__name__)


def file_key(path: Path, sha256: bool = False) -> dict[str, Any]:
    """{"size", "mtime_ns"} of a file, and its "sha256" when asked."""
    st = path.stat()
    key: dict[str, Any] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if sha256:
        key["sha256"] = file_sha256(path)
    return key


def input_keys(scene: Path, context: list[Path] | tuple[Path, ...] = ()) -> dict[str, dict[str, Any]]:
    """{file name: key} of what a labelled output is made from: the scene's file (with its sha256) and the files that
    gave it context (a coverage tile's neighbours: size and time)."""
    return {scene.name: file_key(scene, sha256=True), **{p.name: file_key(p) for p in context}}


def changed_inputs(recorded: dict[str, dict[str, Any]] | None, scene: Path, context: list[Path] | tuple[Path, ...] = ()) -> list[str]:
    """What changed in the inputs since `recorded` (a record's "inputs"), one phrase each; [] when nothing did.
    A file whose size or time changed but whose sha256 is the recorded one (copied, touched) is unchanged."""
    if recorded is None:
        return ["the record does not say which input it was made from (an older pointseg)"]
    now = {scene.name: scene, **{p.name: p for p in context}}
    changes = [f"{name} is no longer an input" for name in recorded if name not in now]
    changes += [f"{name} is a new neighbour" for name in now if name not in recorded]
    for name, path in now.items():
        old = recorded.get(name)
        if old is None:
            continue
        key = file_key(path)
        if key == {k: old.get(k) for k in key}:
            continue
        if old.get("sha256") is not None and file_sha256(path) == old["sha256"]:
            continue
        changes.append(f"{name} changed (size {old.get('size')} -> {key['size']} bytes)" if old.get("size") != key["size"]
                       else f"{name} changed (modified since)")
    return changes


def settings_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    """'tta 1 there, 2 now, ...' for the settings that differ; '' when none do."""
    keys = [k for k in {**old, **new} if old.get(k) != new.get(k)]
    return ", ".join(f"{k} {old.get(k)!r} there, {new.get(k)!r} now" for k in keys)


def read_record(out: Path, name: str) -> dict[str, Any] | None:
    """The record of scene `name` in out, or None when there is none or it cannot be read (cut short: label again)."""
    path = record_path(out, name)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def check_record_settings(out: Path, names: list[str], settings: dict[str, Any]) -> None:
    """Raise, before any work, when a record in `out` was written with other settings (or another checkpoint):
    resuming would mix two runs' outputs in one folder."""
    for name in names:  # a loop over scenes
        record = read_record(out, name)
        if record is not None and record.get("settings", {}) != settings:
            diff = settings_difference(record.get("settings", {}), settings)
            raise InputError(f"{record_path(out, name)}: labelled with other settings ({diff}); nothing was labelled; "
                             f"use another --out, or run without --skip-existing to label everything again")


def finished_record(out: Path, name: str, labelled: Path, settings: dict[str, Any], scene: Path,
                    context: list[Path] | tuple[Path, ...] = ()) -> dict[str, Any] | None:
    """The record of scene `name` whose complete output `labelled` exists and was made with `settings` from the
    inputs as they are now (the scene's file `scene` and the `context` files), or None (label it, again).
    Raises when it was labelled with other settings."""
    record = read_record(out, name)
    if record is None or not labelled.is_file():
        return None
    if record.get("settings", {}) != settings:
        raise InputError(f"{record_path(out, name)}: labelled with other settings ({settings_difference(record.get('settings', {}), settings)}); "
                         f"use another --out or run without --skip-existing")
    changes = changed_inputs(record.get("inputs"), scene, context)
    if changes:
        log.warning("%s: labelling it again: %s", labelled, "; ".join(changes))
        return None
    return record


def write_record(out: Path, name: str, record: dict[str, Any]) -> None:
    atomic_write_text(record_path(out, name), json.dumps(record))
