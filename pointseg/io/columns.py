"""Per-point arrays of a file too large for memory, on disk: one .npy per column, N rows (one per point of the file),
written at scattered rows and read by ranges one window at a time, so what stays resident is one window however
large the file and whatever the order of the rows."""

from pathlib import Path

import numpy as np

from pointseg.io.ownership import record

WINDOW_BYTES = 64 << 20  # bytes of one column mapped at a time


def _data_offset(path: Path) -> int:
    """Where the rows of a .npy file start (after its header)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        read(f)
        return f.tell()


class PointColumns:
    """Columns name -> (N, *shape) arrays of a given dtype in folder/<name>.npy.

    create=True makes the files (sparse: nothing is written until rows are), else opens existing ones and checks their
    row count. `write(rows, values)` puts values[name][k] at row rows[k]; `read(start, stop)` returns rows start..stop-1.
    """

    def __init__(self, folder: str | Path, n: int, columns: dict[str, tuple[np.dtype, tuple[int, ...]]], create: bool = True):
        self.folder, self.n = Path(folder), int(n)
        self.columns = {name: (np.dtype(dtype), tuple(shape)) for name, (dtype, shape) in columns.items()}
        self.folder.mkdir(parents=True, exist_ok=True)
        self.offsets: dict[str, int] = {}
        for name, (dtype, shape) in self.columns.items():
            path = self.path(name)
            if create or not path.is_file():
                np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(self.n, *shape))  # header + a sparse file
            else:
                found = np.load(path, mmap_mode="r")
                if found.shape != (self.n, *shape) or found.dtype != dtype:
                    raise ValueError(f"{path}: holds {found.shape} {found.dtype}, expected {(self.n, *shape)} {dtype}")
                del found
            self.offsets[name] = _data_offset(path)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.npy"

    def _rows_per_window(self, name: str) -> int:
        dtype, shape = self.columns[name]
        return max(1, WINDOW_BYTES // (dtype.itemsize * int(np.prod(shape, dtype=np.int64))))

    def write(self, rows: np.ndarray, values: dict[str, np.ndarray]) -> None:
        """Write values[name] (k, *shape) at rows (k,) int64 of each named column; rows must be ascending."""
        rows = np.asarray(rows, np.int64)
        if len(rows) > 1 and (np.diff(rows) < 0).any():
            raise ValueError("PointColumns.write: rows must be ascending")
        for name, v in values.items():
            dtype, shape = self.columns[name]
            per = self._rows_per_window(name)
            window = rows // per
            cuts = np.flatnonzero(np.diff(window)) + 1
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(rows)]):  # a loop over windows, not points
                if a == b:
                    continue
                first, last = int(rows[a]), int(rows[b - 1])
                row_bytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
                mapped = np.memmap(self.path(name), dtype, "r+", self.offsets[name] + first * row_bytes, (last - first + 1, *shape))
                mapped[rows[a:b] - first] = v[a:b]
                mapped.flush()
                del mapped  # unmapped: its pages leave this process

    def read(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Rows start..stop-1 of every column, read without a map."""
        out = {}
        for name, (dtype, shape) in self.columns.items():
            count = (stop - start) * int(np.prod(shape, dtype=np.int64))
            row_bytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
            with open(self.path(name), "rb") as f:
                f.seek(self.offsets[name] + start * row_bytes)
                out[name] = np.fromfile(f, dtype, count).reshape(stop - start, *shape)
        return out

    def record(self) -> None:
        """Record the columns as pointseg's files (the ledger of their folder) once they are complete."""
        record(*(self.path(name) for name in self.columns))
