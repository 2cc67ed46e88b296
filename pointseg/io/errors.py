"""The error raised for unreadable or invalid point-cloud input."""

from pathlib import Path


class PointCloudError(ValueError):
    """Bad point-cloud input; the message starts with the file it concerns."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
