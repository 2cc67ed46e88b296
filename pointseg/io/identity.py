"""What identifies a file's content: its sha256 (inputs in manifests and records, checkpoints in settings)."""

import hashlib
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
