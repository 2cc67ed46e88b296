"""The error raised for unreadable or invalid point-cloud input."""

from pathlib import Path

from pointseg.errors import UserError


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
