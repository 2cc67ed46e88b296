"""Which process on which machine: the tag `PID@MACHINE` that temp files, work-in-progress folders and run locks carry,
whether a tagged process is known to be gone, and worker processes that end when their parent does.

A PID means something only on the machine (and in the PID namespace) that issued it: a folder on a shared file
system may hold files of processes on other machines, whose PIDs say nothing here. So a leftover is judged dead only
when its tag names this machine and its PID is not running; everything else is left alone.

MACHINE is the host name (characters other than letters, digits, '-' and '_' become '-'), followed by `~N` (N the
PID namespace's id) inside a container's PID namespace, so two containers sharing one host name are told apart.
"""

import logging
import os
import re
import socket
import threading
import time

log = logging.getLogger(__name__)

TAG = re.compile(r"^(?P<pid>\d+)@(?P<machine>[A-Za-z0-9_~-]+)$")
INITIAL_PID_NAMESPACE = 0xEFFFFFFC  # the id of the host's (initial) PID namespace in Linux


def _machine() -> str:
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "localhost"
    try:
        namespace = int(re.sub(r"\D", "", os.readlink("/proc/self/ns/pid")))
    except (OSError, ValueError):
        return host
    return host if namespace == INITIAL_PID_NAMESPACE else f"{host}~{namespace}"


HOST = socket.gethostname()
MACHINE = _machine()


def tag(pid: int | None = None) -> str:
    """'PID@MACHINE' of this process (or of `pid` on this machine)."""
    return f"{os.getpid() if pid is None else pid}@{MACHINE}"


def parse_tag(text: str) -> tuple[int, str] | None:
    """(pid, machine) of a 'PID@MACHINE' tag, or None when `text` is not one."""
    match = TAG.match(text)
    return None if match is None else (int(match["pid"]), match["machine"])


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


def gone(pid: int, machine: str) -> bool:
    """True only when the process ran on this machine and is no longer running; another machine's process never is."""
    return machine == MACHINE and not pid_alive(pid)


def exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    """Make this (worker) process exit once `parent` has gone: a daemon thread checks every `every_s` seconds.
    For process pools: `ProcessPoolExecutor(initializer=exit_with_parent, initargs=(os.getpid(),))`, so a parent
    killed with kill -9 leaves no worker running on for minutes (its work in progress is cleaned up by the next run)."""

    def watch() -> None:
        while True:
            time.sleep(every_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
