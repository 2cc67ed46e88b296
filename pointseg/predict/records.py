"""The record <scene>_pred.json written after each labelled file (points, confusion matrix, seconds, settings):
it marks a finished scene, so an interrupted run resumes with --skip-existing."""

import json
from pathlib import Path
from typing import Any

from pointseg.errors import InputError
from pointseg.io.atomic import atomic_write_text
from pointseg.io.predictions import record_path


def finished_record(out: Path, name: str, labelled: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The record of scene `name` whose complete output `labelled` exists (the record is written last, after the
    labelled file, so it marks a finished scene), or None. Raises when it was labelled with other settings."""
    path = record_path(out, name)
    if not (path.is_file() and labelled.is_file()):
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # cut short or not ours: label again (the labelled file is replaced atomically)
    old = record.get("settings", {})
    if old != settings:
        diff = ", ".join(f"{k} {old.get(k)!r} there, {v!r} now" for k, v in settings.items() if old.get(k) != v)
        raise InputError(f"{path}: labelled with other settings ({diff}); use another --out or run without --skip-existing")
    return record


def write_record(out: Path, name: str, record: dict[str, Any]) -> None:
    atomic_write_text(record_path(out, name), json.dumps(record))
