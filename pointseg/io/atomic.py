"""Atomic file output: write to a temporary file in the target folder, then rename over the target.

Temporary files are named `.NAME.PID.XXXXXXXX.tmp` (PID: the writing process), so a later run can tell
the leftovers of a killed run (its PID is gone) from the files of a run still writing: see
`clean_stale_temp_files`.
"""

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pointseg.io.ownership import check_replaceable, record

log = logging.getLogger(__name__)

# .NAME.PID.RANDOM.tmp (mkstemp's random part has no dots)
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (ours counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed to `path` and recorded as pointseg's
    (pointseg.io.ownership), on error removed. A `path` that exists and is not pointseg's is refused first.

    A crash therefore never leaves a half-written `path`; an older complete file stays untouched.
    """
    path = Path(path)
    check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
        record(path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def clean_stale_temp_files(directory: str | Path) -> list[Path]:
    """Remove the temporary files that killed runs left in `directory` (their PID is gone); return them.

    Files of a live process are kept. Hidden `.*.tmp` files without a PID (written by an older pointseg)
    are not removed but named in a warning, since nothing tells whether a run still writes them.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed, unknown = [], []
    for p in directory.glob(".*.tmp"):
        match = TEMP_NAME.match(p.name)
        if match is None:
            unknown.append(p)
        elif not pid_alive(int(match["pid"])):
            p.unlink(missing_ok=True)
            removed.append(p)
    if removed:
        log.warning("%s: removed %d temporary file(s) left by killed runs: %s", directory, len(removed), ", ".join(p.name for p in sorted(removed)))
    if unknown:
        log.warning("%s: temporary file(s) of unknown origin, left in place (remove them if no run writes here): %s",
                    directory, ", ".join(p.name for p in sorted(unknown)))
    return removed


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    """Save one array as .npy atomically (readable later with np.load(mmap_mode='r'))."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(array))
