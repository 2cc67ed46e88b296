"""The one guard: pointseg replaces or removes only what it wrote.

Every file pointseg writes is recorded, once its write is complete, in the ledger of its folder
(`.pointseg-ledger.json`: file name -> size and modification time when pointseg wrote it, and for some files
their role, e.g. "labelled" for a labelled copy of an input, which is never training data). A path may be
replaced when it does not exist, or when it is a file the ledger lists with the same size and time: pointseg
wrote it and nobody changed it since. A folder pointseg made whole (prepared data, the demo's folder) also
records its kind, and may be removed only when it has that kind and holds nothing but such files. Anything
else is the user's: refused with OutputExistsError, which names the files, before any work is done.

All atomic writes (pointseg.io.atomic.atomic_path) check and record through this module; appends
(metrics.jsonl) record after each append. The ledger is updated under a lock (fcntl.lockf on
`.pointseg-ledger.lock`, which works across processes and, on NFS, across machines) and replaced atomically.
"""

import contextlib
import fcntl
import json
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pointseg.errors import OutputExistsError
from pointseg.processes import tag

LEDGER = ".pointseg-ledger.json"
LOCK = ".pointseg-ledger.lock"
RUN_LOCK = "pointseg-run.lock"  # run locks (pointseg.io.run_lock): `.pointseg-run.lock` or `.NAME.pointseg-run.lock`
OWN_FILES = (LEDGER, LOCK)
VERSION = 1
LABELLED = "labelled"  # the role of a labelled copy of an input (<scene>_pred.*): pointseg's output, never a scene to learn from


def _stat_key(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _unchanged(entry: dict[str, Any] | None, path: Path) -> bool:
    return entry is not None and {k: entry.get(k) for k in ("size", "mtime_ns")} == _stat_key(path)


def is_own_file(name: str) -> bool:
    """The ledger, its lock and run locks: pointseg's bookkeeping, never a user's file."""
    return name in OWN_FILES or (name.startswith(".") and name.endswith(RUN_LOCK))


def _read(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / LEDGER).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return {"version": VERSION, "kind": None, "files": {}}
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("files"), dict):
        return {"version": VERSION, "kind": None, "files": {}}
    return data


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[dict[str, Any]]:
    """The folder's ledger, read under its lock; written back (atomically) when the block ends without error."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        try:
            data = _read(folder)
            yield data
            tmp = folder / f".{LEDGER}.{tag()}.ledger.tmp"  # the temporary-file form of pointseg.io.atomic
            tmp.write_text(json.dumps(data, indent=0, sort_keys=True))
            os.replace(tmp, folder / LEDGER)
        finally:
            fcntl.lockf(lock, fcntl.LOCK_UN)


def record(*paths: str | Path, role: str | None = None) -> None:
    """Record files pointseg has just written (or appended to) as its own; `role` (e.g. LABELLED) says what they are."""
    by_folder: dict[Path, list[Path]] = {}
    for p in map(Path, paths):
        by_folder.setdefault(p.parent, []).append(p)
    for folder, files in by_folder.items():
        with _locked(folder) as data:
            for p in files:
                data["files"][p.name] = _stat_key(p) | ({"role": role} if role else {})


def role_of(path: str | Path) -> str | None:
    """The role recorded for a file pointseg wrote and nobody changed since (e.g. LABELLED), else None."""
    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return None
    entry = _read(path.parent)["files"].get(path.name)
    return entry.get("role") if _unchanged(entry, path) else None


def forget(*paths: str | Path) -> None:
    """Drop files pointseg has removed or moved away from their folders' ledgers."""
    for p in map(Path, paths):
        if (p.parent / LEDGER).is_file():
            with _locked(p.parent) as data:
                data["files"].pop(p.name, None)


def is_ours(path: str | Path) -> bool:
    """Whether `path` is a file pointseg wrote and nobody changed since (ledger files count as ours)."""
    path = Path(path)
    if is_own_file(path.name):
        return True
    if path.is_symlink() or not path.is_file():
        return False
    return _unchanged(_read(path.parent)["files"].get(path.name), path)


def foreign(paths: Iterable[str | Path]) -> list[Path]:
    """The paths that exist and are not pointseg's own unchanged files (folders and links included)."""
    return [Path(p) for p in paths if (os.path.lexists(p) and not is_ours(p))]


def _names(paths: list[Path], n: int = 5) -> str:
    shown = ", ".join(str(p) for p in paths[:n])
    return shown if len(paths) <= n else f"{shown} and {len(paths) - n} more"


def check_replaceable(*paths: str | Path, hint: str = "move them away or choose another output folder") -> None:
    """Raise OutputExistsError naming every path that exists and was not written by pointseg (or changed since)."""
    found = foreign(paths)
    if found:
        raise OutputExistsError(f"{_names(found)}: exist(s) and were not written by pointseg (or were changed since); "
                                f"nothing was written; {hint}")


def adopt(*paths: str | Path) -> None:
    """Record existing files as pointseg's because the user pointed pointseg at them to continue (e.g. --resume of a
    run copied from another machine, whose times changed in the copy)."""
    record(*(p for p in map(Path, paths) if p.is_file() and not p.is_symlink()))


def mark_dir(folder: str | Path, kind: str) -> None:
    """Record that pointseg made `folder` whole, as a `kind` ('prepared', 'demo')."""
    with _locked(Path(folder)) as data:
        data["kind"] = kind


def dir_kind(folder: str | Path) -> str | None:
    return _read(Path(folder))["kind"] if Path(folder).is_dir() else None


def foreign_files(folder: str | Path) -> list[Path]:
    """Everything under `folder` (recursively) that is not pointseg's own unchanged file; links are never followed."""
    out = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        base = Path(root)
        out += [base / d for d in dirs if (base / d).is_symlink()]
        out += [base / f for f in files if not is_ours(base / f)]
    return sorted(out)


def check_removable(folder: str | Path, kind: str) -> None:
    """Raise OutputExistsError unless `folder` is a `kind` folder pointseg made that holds nothing but its own files."""
    folder = Path(folder)
    if folder.is_symlink():
        raise OutputExistsError(f"{folder}: a symbolic link; pointseg replaces only a folder it made, not a link to one; "
                                f"give the folder itself or another path")
    if not folder.is_dir():
        raise OutputExistsError(f"{folder}: exists and is not a folder; choose another path")
    found_kind = dir_kind(folder)
    if found_kind != kind:
        what = f"a {found_kind} folder, not a {kind} one" if found_kind else f"not a {kind} folder pointseg made"
        held = sorted(p.name for p in folder.iterdir() if not is_own_file(p.name))
        raise OutputExistsError(f"{folder}: {what} (it holds {_names(held)}); nothing was changed; choose a new or empty folder")
    found = foreign_files(folder)
    if found:
        raise OutputExistsError(f"{folder}: holds files pointseg did not write (or that were changed since): {_names(found)}; "
                                f"nothing was changed; move them out or choose another folder")


def remove_tree(folder: str | Path, kind: str) -> None:
    """Remove a `kind` folder pointseg made, after check_removable."""
    check_removable(folder, kind)
    shutil.rmtree(folder)


def main(argv: list[str]) -> int:
    """python -m pointseg.io.ownership clear KIND FOLDER: remove a folder pointseg made as KIND (or an empty one);
    python -m pointseg.io.ownership mark KIND FOLDER: make FOLDER (if needed) and record it as a KIND folder (tools/demo.sh)."""
    if len(argv) != 3 or argv[0] not in ("clear", "mark"):
        print("usage: python -m pointseg.io.ownership clear|mark KIND FOLDER", file=sys.stderr)
        return 2
    kind, folder = argv[1], Path(argv[2])
    if argv[0] == "mark":
        mark_dir(folder, kind)
        return 0
    if not os.path.lexists(folder):
        return 0
    try:
        if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
            folder.rmdir()
            return 0
        remove_tree(folder, kind)
    except OutputExistsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
