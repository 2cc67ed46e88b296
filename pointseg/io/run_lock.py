"""One run at a time in a folder: a lock file naming the process (host, PID) that holds it.

    with RunLock(work_dir / RUN_LOCK_NAME):
        ...

The lock file is made with O_CREAT | O_EXCL, so of two runs started together exactly one gets it (on a local
disk and on NFS). The other stops with one line naming the holder: its host, PID, start time and command. A lock
left by a killed run on this machine (its PID is gone; see pointseg.processes) is taken over with a warning; a
lock of another machine is never taken over (its PID says nothing here): the message says how to remove it once
no run uses the folder. Taking over rewrites the file in place under fcntl.lockf, so of two runs that find the
same stale lock one wins. Training locks its work dir, infer its output folder, prepare its output (the lock sits
beside it, as the folder itself is replaced).
"""

import contextlib
import fcntl
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from pointseg.errors import OutputExistsError, OutputNotWritable, RunInProgress
from pointseg.io.ownership import RUN_LOCK
from pointseg.processes import HOST, MACHINE, gone

log = logging.getLogger(__name__)

RUN_LOCK_NAME = f".{RUN_LOCK}"  # inside the folder a run writes into
WAIT_FOR_CONTENT_S = 2.0  # a lock file just made is written within this time by its maker


def lock_beside(folder: str | Path) -> Path:
    """The lock of a folder that is replaced as a whole (prepare's output): `.NAME.pointseg-run.lock` beside it."""
    folder = Path(folder)
    return folder.parent / f".{folder.name}.{RUN_LOCK}"


def _content() -> str:
    return json.dumps({"host": HOST, "machine": MACHINE, "pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                       "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"})


def _holder(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    ok = isinstance(data, dict) and isinstance(data.get("pid"), int) and isinstance(data.get("machine"), str)
    return data if ok else None


class RunLock:
    """The lock file `path` held by this process while it runs in `folder` (default: the lock's own folder)."""

    def __init__(self, path: str | Path, folder: str | Path | None = None):
        self.path = Path(path)
        self.folder = Path(folder) if folder is not None else self.path.parent
        self.content: str | None = None

    def __enter__(self) -> "RunLock":
        return self if self.content is not None else self.acquire()  # lock_folder gives a lock already held

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> "RunLock":
        content = _content()
        for _ in range(20):  # each round either takes the lock, refuses, or sees it change hands
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._take_over_if_stale(content):
                    break
                continue
            except OSError as err:
                raise OutputNotWritable(f"{self.folder}: cannot write there ({err.strerror}); nothing was written; "
                                        f"choose a folder you can write to") from None
            with os.fdopen(fd, "w") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            break
        else:
            raise RunInProgress(f"{self.path}: the run lock keeps changing hands; another run is starting in {self.folder}")
        self.content = content
        return self

    def _take_over_if_stale(self, content: str) -> bool:
        """True when the lock was left by a dead process of this machine and is now ours; raises when a live run
        (or another machine's) holds it; False when it changed meanwhile (try again)."""
        try:
            f = open(self.path, "r+")
        except FileNotFoundError:
            return False  # released meanwhile
        with f:
            fcntl.lockf(f, fcntl.LOCK_EX)
            try:
                if os.fstat(f.fileno()).st_ino != os.stat(self.path).st_ino:
                    return False  # removed and made again meanwhile
            except FileNotFoundError:
                return False
            text = f.read()
            holder = _holder(text)
            deadline = time.monotonic() + WAIT_FOR_CONTENT_S
            while holder is None and not text and time.monotonic() < deadline:  # made a moment ago, not yet written
                fcntl.lockf(f, fcntl.LOCK_UN)
                time.sleep(0.05)
                fcntl.lockf(f, fcntl.LOCK_EX)
                f.seek(0)
                text = f.read()
                holder = _holder(text)
            if holder is None:
                raise RunInProgress(f"{self.path}: a run lock that cannot be read; if no run is using {self.folder}, "
                                    f"remove {self.path} and start again")
            if not gone(holder["pid"], holder["machine"]):
                raise RunInProgress(self._held_message(holder))
            f.seek(0)
            f.truncate()
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        log.warning("%s: took over the run lock of process %d on %s (started %s), which is no longer running",
                    self.folder, holder["pid"], holder.get("host", holder["machine"]), holder.get("started", "?"))
        return True

    def _held_message(self, holder: dict[str, Any]) -> str:
        who = f"process {holder['pid']} on {holder.get('host', holder['machine'])}"
        since = f", started {holder['started']}" if holder.get("started") else ""
        command = f": {holder['command']}" if holder.get("command") else ""
        if holder["machine"] == MACHINE:
            how = f"wait for it to finish, or stop it (kill {holder['pid']})"
        else:
            how = (f"wait for it to finish; if that run is over (its machine restarted or the process was killed), "
                   f"remove {self.path}")
        return f"{self.folder}: another pointseg run is using it ({who}{since}{command}); {how}"

    def release(self) -> None:
        """Remove the lock file if it is still ours (a run that lost it keeps its hands off the new holder's)."""
        if self.content is None:
            return
        with contextlib.suppress(FileNotFoundError):
            with open(self.path, "r+") as f:
                fcntl.lockf(f, fcntl.LOCK_EX)
                if f.read() == self.content and os.fstat(f.fileno()).st_ino == os.stat(self.path).st_ino:
                    os.unlink(self.path)
        self.content = None

    def moved(self, now_at: str | Path, instead: str | Path) -> None:
        """Our lock file was moved (with its folder) to `now_at`: hold `instead` (the same place, made anew) and
        remove the moved one, e.g. when --restart moves a work dir aside and starts a new one in its place."""
        moved = RunLock(now_at, self.folder)
        moved.content = self.content
        self.path, self.content = Path(instead), None
        self.acquire()
        moved.release()


def check_not_a_file(folder: str | Path, option: str) -> None:
    """A folder option (--out, --work-dir) naming an existing file (or a link to one) is refused with one line."""
    folder = Path(folder)
    if os.path.lexists(folder) and not folder.is_dir():
        raise OutputExistsError(f"{option} {folder}: exists and is not a folder; choose another path")


def lock_folder(folder: str | Path, option: str = "--out") -> RunLock:
    """Make `folder` (a run's output folder or work dir; one that names an existing file is refused) and take its
    run lock (RUN_LOCK_NAME inside it); returns the lock, to release when the run ends."""
    folder = Path(folder)
    check_not_a_file(folder, option)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputNotWritable(f"{option} {folder}: cannot make the folder ({err.strerror}); nothing was written; "
                                f"choose a folder you can write to") from None
    return RunLock(folder / RUN_LOCK_NAME, folder).acquire()
