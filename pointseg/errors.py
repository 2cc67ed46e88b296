"""The user's mistakes (bad input, bad arguments or config, a refused overwrite), as opposed to bugs: one root.

Every error a user can cause derives from UserError; the command-line tools (pointseg.cli) print it as one
line `error: <message>` and exit 2. Any other exception is a bug and keeps its traceback. Each subclass also
derives from the built-in type a caller would expect (ValueError, FileExistsError, FileNotFoundError), so
`except ValueError` keeps working. Every class pickles (errors from process-pool workers reach the user intact).
"""

import errno
from pathlib import Path

FREE_SPACE = "free some space or write elsewhere"
ELSEWHERE = "choose a folder you can write to"
# what to do when writing failed with this errno (pointseg.io.atomic's one line, pointseg.cli's for any other write)
WRITE_FIXES = {errno.ENOSPC: FREE_SPACE, errno.EDQUOT: FREE_SPACE, errno.EFBIG: FREE_SPACE, errno.EROFS: ELSEWHERE,
               errno.EACCES: f"check its permissions, or {ELSEWHERE}", errno.EPERM: f"check its permissions, or {ELSEWHERE}"}


class UserError(Exception):
    """A problem with what the user gave us; the message names the file or option, the problem and the fix."""


class InputError(UserError, ValueError):
    """Bad input data or a bad argument value (e.g. `--stride -5`, a truncated prepared array)."""


class ConfigError(UserError, ValueError):
    """A config file or setting with unknown keys, bad syntax, a value of the wrong type or out of range."""


class ClassMapError(UserError, ValueError):
    """A class map file that is missing or malformed; the message names the file."""


class OutputExistsError(UserError, FileExistsError):
    """Refusal to replace or mix with something pointseg did not write, or without the flag that allows it."""


class OutputNotWritable(UserError, OSError):
    """An output that cannot be written here: no space left, a read-only folder, no permission."""


class RunInProgress(UserError, RuntimeError):
    """Another run holds the folder's run lock (pointseg.io.run_lock)."""


class InputNotFoundError(UserError, FileNotFoundError):
    """A file or directory the user named does not exist (or holds nothing usable)."""


class EnvironmentProblem(UserError, RuntimeError):
    """The machine lacks what was asked for (e.g. `--device cuda` without a GPU)."""


class PointCloudError(UserError, ValueError):
    """Bad point-cloud input; the message starts with the file it concerns."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        # Exception pickles as cls(*self.args) = cls(message), which this __init__ cannot take: without this a
        # worker's error became "BrokenProcessPool: A process ... terminated abruptly" in the parent.
        return (type(self), (self.path, self.problem))
