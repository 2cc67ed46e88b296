"""Atomic file output: write to a temporary file in the target folder, then rename over the target.

Temporary files are named `.NAME.PID@MACHINE.XXXXXXXX.tmp` (the writing process and its machine, see
pointseg.processes), so a later run can tell the leftovers of a killed run (a PID of this machine that is gone) from
the files of a run still writing, here or on another machine sharing the folder: see `clean_stale_temp_files`.
Writes that fail for lack of space or permission raise OutputNotWritable (one line naming the file).
"""

import contextlib
import errno
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pointseg.errors import ELSEWHERE, WRITE_FIXES, OutputNotWritable
from pointseg.io.ownership import check_replaceable, record
from pointseg.processes import gone, pid_alive, tag

__all__ = ["atomic_path", "atomic_save_npy", "atomic_write_text", "clean_stale_temp_files", "pid_alive", "temp_prefix"]

log = logging.getLogger(__name__)

# .NAME.PID@MACHINE.RANDOM.tmp (mkstemp's random part has neither dots nor '@')
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)@(?P<machine>[A-Za-z0-9_~-]+)\.[^.@]+\.tmp$")
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)  # a write into the temporary file failing
NOT_WRITABLE = (*NO_SPACE, errno.EACCES, errno.EPERM)  # making, renaming the temporary file failing


def temp_prefix(name: str) -> str:
    """The start of a temporary file's name for target `name`: '.NAME.PID@MACHINE.'."""
    return f".{name}.{tag()}."


def not_writable(path: Path, err: OSError) -> OutputNotWritable:
    """The one-line error for a write that failed for lack of space or permission."""
    fix = WRITE_FIXES.get(err.errno, ELSEWHERE)
    return OutputNotWritable(f"{path}: cannot write it ({err.strerror or err}); nothing half-written was left; {fix}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed to `path` and recorded as pointseg's
    (pointseg.io.ownership), on error removed. A `path` that exists and is not pointseg's is refused first.

    A crash therefore never leaves a half-written `path`; an older complete file stays untouched.
    """
    path = Path(path)
    check_replaceable(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    except OSError as err:
        if err.errno in NOT_WRITABLE:
            raise not_writable(path, err) from None
        raise
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
    except OSError as err:
        tmp_path.unlink(missing_ok=True)
        if err.errno in NO_SPACE:
            raise not_writable(path, err) from None
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    try:
        os.replace(tmp_path, path)
    except BaseException as err:
        tmp_path.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in NOT_WRITABLE:
            raise not_writable(path, err) from None
        raise
    record(path)


def clean_stale_temp_files(directory: str | Path) -> list[Path]:
    """Remove the temporary files that killed runs on this machine left in `directory` (their PID is gone); return them.

    Files of a live process, and every file of another machine (whose PIDs mean nothing here), are kept. Hidden
    `.*.tmp` files without a PID@MACHINE tag (written by an older pointseg, or by another program) are not removed
    but named in a warning, since nothing tells whether a run still writes them.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed, unknown = [], []
    for p in directory.glob(".*.tmp"):
        match = TEMP_NAME.match(p.name)
        if match is None:
            unknown.append(p)
        elif gone(int(match["pid"]), match["machine"]):
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
