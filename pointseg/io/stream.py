"""Point cloud files chunk by chunk, for files larger than memory: readers that check a whole file as the in-memory
readers do (the same errors, line numbers and warnings), and writers of labelled copies in the input's point order.

Reading: LAS/LAZ through laspy's chunk iterator (LAZ decompressed by lazrs as it goes), STPLS3D text through pandas'
chunked C parser, binary PLY through a memory map of the vertex block, one window at a time (so the resident
memory stays one chunk, however large the file). `open_stream(path)` gives the reader; `stream.chunks(n)` yields
`Chunk`s of at most n points in file order; after a full pass, `stream.summary()` raises the file's first problem
in the order the in-memory reader would (the counts and first line of a problem are the whole file's) and gives a
`FileSummary`: point count, bounds, and the decisions that need every point (how stored colours map to 0..255, whether
intensity or labels are there at all).

Writing: `labelled_writer(path, summary, fields)` writes a LAS/LAZ copy (header, VLRs/EVLRs and every dimension
kept, via laspy's LasWriter), a new LAS/LAZ file, or a binary PLY chunk by chunk, atomically (a temp file renamed
at the end, through pointseg.io.atomic); the points go in as the chunks of a second pass over the input.
"""

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import laspy
import numpy as np
import pandas as pd
from plyfile import PlyData, PlyElement

from pointseg.errors import PointCloudError
from pointseg.io.atomic import atomic_path
from pointseg.io.class_map import ClassMap
from pointseg.io.las import (
    LAS_SUFFIXES,
    _open_header,
    _unreadable,
    copy_header,
    crs_of,
    finish_las,
    labelled_points,
    new_header,
    warn_no_colour,
    warn_unknown_codes,
)
from pointseg.io.ply import COLOUR_FIELD_NAMES, INTENSITY_FIELD_NAMES, LABEL_FIELD_NAMES
from pointseg.io.scene import metric_floor
from pointseg.io.stpls3d import COLUMNS_LABELED, check_column_count, csv_error, missing_value_message, non_numeric
from pointseg.io.validate import (
    AMBIGUOUS_UNIT_COLOURS,
    apply_colour_rule,
    bad_colours_message,
    bad_coordinates_message,
    colour_rule,
    colours_outside_8bit,
    first_bad_row,
    label_value_problem,
    labels_in_range,
    unit_colours,
    warn_out_of_range_labels,
)
from pointseg.io.units import METRES, Units, las_units, resolve_units

log = logging.getLogger(__name__)

CHUNK_POINTS = 1 << 20  # points per chunk: ~100 MB of arrays in flight, large enough that per-chunk costs vanish
EMPTY = "empty scene: the file holds no points"


@dataclass
class Chunk:
    """Points start .. start + n - 1 of a file (0-based), in file order.

    xyz (n, 3) float64; colour (n, 3) as stored (LAS uint16, PLY its own type, text uint8 or float64 decimals) or None; intensity (n,)
    float32 or None; labels (n,) int16 classes with -100 ignored, or None; record: the LAS point record of the chunk
    (for labelled copies), else None; returns (n, 2) uint8 return number and number of returns (LAS), or None.
    """

    start: int
    xyz: np.ndarray
    colour: np.ndarray | None = None
    intensity: np.ndarray | None = None
    labels: np.ndarray | None = None
    record: Any = None
    returns: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.xyz)


@dataclass
class FileSummary:
    """What a full pass learnt of a file: points; mins, maxs (3,) float64; colour_rule ('unit', '16bit', '8bit':
    pointseg.io.validate.colour_rule) or None without colour; intensity, labels: whether the file has them (as the
    in-memory reader decides: LAS intensity or colour all 0 count as none, labels need one point of a class);
    out_of_range_labels: points whose label or code is not a class; crs (LAS) or None; header: the LAS header or None;
    returns: whether the file has return numbers (LAS, not all 0); units: metres per coordinate unit (pointseg.io.units,
    as the in-memory reader decides them); intensity_reference: the 99th percentile of the file's positive intensities
    (pointseg.data.features.scene_attributes' for the whole file), or None without intensity."""

    path: Path
    points: int
    mins: np.ndarray
    maxs: np.ndarray
    colour_rule: str | None
    intensity: bool
    labels: bool
    out_of_range_labels: int = 0
    crs: str | None = None
    header: Any = None
    returns: bool = False
    units: Units = METRES
    intensity_reference: float | None = None

    @property
    def origin(self) -> np.ndarray:
        """(3,) Scene.origin of the whole file: its minimum floored to whole metres (in the file's units)."""
        return metric_floor(self.mins, self.units)

    def rgb(self, colour: np.ndarray | None) -> np.ndarray | None:
        """Stored colours (n, 3) -> uint8 0..255 by the file's rule; None for a file without colour."""
        if self.colour_rule is None or colour is None:
            return None
        return apply_colour_rule(self.path, colour, self.colour_rule)


class _Rows:
    """Rows with a problem over a whole file: how many, the first (1-based) and what it held."""

    def __init__(self) -> None:
        self.count, self.first, self.values = 0, 0, None

    def add(self, bad: np.ndarray, start: int, values: np.ndarray | None = None) -> None:
        """bad (n,) or (n, k) bool mask of a chunk whose first point is point start + 1."""
        rows = bad.any(axis=1) if bad.ndim == 2 else bad
        n = int(rows.sum())
        if n and not self.count:
            self.first = start + first_bad_row(rows)
            self.values = None if values is None else values[self.first - start - 1].tolist()
        self.count += n


class _Labels:
    """Labels over a whole file: the first bad value, points out of range (and their smallest values), any in a class."""

    def __init__(self) -> None:
        self.problem: tuple[int, str] | None = None
        self.out, self.found, self.any_valid = 0, np.zeros(0, np.int64), False

    def add(self, values: np.ndarray, start: int) -> np.ndarray | None:
        """(n,) int16 classes of a chunk's raw label values, or None after a bad value."""
        if self.problem is None:
            self.problem = label_value_problem(values, start + 1)
        if self.problem is not None:
            return None
        labels, out = labels_in_range(values)
        if out.any():
            self.out += int(out.sum())
            self.found = np.union1d(self.found, np.unique(values[out].astype(np.int64))[:10])[:10]
        self.any_valid |= bool((labels >= 0).any())
        return labels.astype(np.int16)


class _Colours:
    """Stored colours over a whole file: their range (for colour_rule) and the rows outside 0..255."""

    def __init__(self) -> None:
        self.low, self.high, self.finite, self.is_float, self.nonzero = np.inf, -np.inf, True, False, False
        self.binary = True  # every value 0 or 1 (text colours: 0..1 or 0..255?)
        self.bad = _Rows()

    def add(self, colour: np.ndarray, start: int) -> None:
        if not len(colour):
            return
        self.is_float = bool(np.issubdtype(colour.dtype, np.floating))
        finite = bool(np.isfinite(colour).all()) if self.is_float else True
        self.finite &= finite
        if finite:
            self.low, self.high = min(self.low, float(colour.min())), max(self.high, float(colour.max()))
        self.nonzero |= bool(colour.any())
        self.binary &= bool(np.isin(colour, (0, 1)).all())
        self.bad.add(colours_outside_8bit(colour), start, colour)

    def rule(self) -> str:
        return colour_rule(self.is_float, self.low, self.high, self.finite)

    def problem(self) -> str | None:
        """The in-memory reader's error for these colours, if any."""
        if self.rule() == "8bit" and self.bad.count:
            return bad_colours_message(self.bad.count, self.bad.first, self.bad.values)
        return None


class _Percentile:
    """The 99th percentile of a file's positive intensities, as np.percentile of them all (linear interpolation) gives
    it: exact from a histogram while every value is a whole number in 0..65535 (LAS intensities always are), else from
    every k-th positive value of the whole file, k doubling whenever the sample would pass SAMPLE values (so the last
    chunks count as much as the first)."""

    Q = 99.0
    SAMPLE = 1 << 22

    def __init__(self) -> None:
        self.hist = np.zeros(65536, np.int64)
        self.whole = True
        self.sample: list[np.ndarray] = []
        self.step = 1
        self.n = 0

    def add(self, values: np.ndarray) -> None:
        positive = values[values > 0]
        if not len(positive):
            return
        self.n += len(positive)
        if (positive > 65535).any() or (positive != np.floor(positive)).any():
            self.whole = False
        if self.whole:
            self.hist += np.bincount(positive.astype(np.int64), minlength=65536)
        self.sample.append(positive[:: self.step].astype(np.float32))
        while sum(len(a) for a in self.sample) > self.SAMPLE:  # thin every chunk's sample alike
            self.sample = [a[::2] for a in self.sample]
            self.step *= 2

    def value(self) -> float:
        """scene_attributes' reference: the percentile, 1.0 without a positive value."""
        if not self.n:
            return 1.0
        if not self.whole:
            return float(np.percentile(np.concatenate(self.sample), self.Q))
        cum = np.cumsum(self.hist)
        virtual = (self.n - 1) * np.asanyarray(self.Q / 100)  # np.percentile's 'linear' method, step by step
        lo = int(np.floor(virtual))
        a, b = (np.float32(np.searchsorted(cum, k, side="right")) for k in (lo, min(lo + 1, self.n - 1)))  # k-th smallest
        gamma = np.asanyarray(virtual - lo)
        return float(_lerp(np.asarray([a])[0], np.asarray([b])[0], gamma))


def _lerp(a, b, t):
    """numpy's own interpolation of np.percentile (so a reference from a histogram is the in-memory one to the bit)."""
    try:
        from numpy.lib import function_base as impl  # numpy < 2
        return impl._lerp(a, b, t)
    except (ImportError, AttributeError):
        try:
            from numpy.lib import _function_base_impl as impl  # numpy >= 2
            return impl._lerp(a, b, t)
        except (ImportError, AttributeError):
            return a + (b - a) * t


class PointStream:
    """A file read chunk by chunk; subclasses per format. After `chunks` ran to the end, `summary()`."""

    def __init__(self, path: Path, units: "str | Units" = "auto"):
        self.path = Path(path)
        self.units_setting = units
        self.intensity_scale = _Percentile()
        self.points = 0
        self.mins, self.maxs = np.full(3, np.inf), np.full(3, -np.inf)
        self.bad_xyz = _Rows()
        self.failed = False  # a problem was found: the pass goes on only to complete its counts

    def chunks(self, size: int = CHUNK_POINTS) -> Iterator[Chunk]:
        raise NotImplementedError

    def summary(self) -> FileSummary:
        raise NotImplementedError

    def units(self) -> Units:
        """The file's units as its in-memory reader decides them: no CRS here, so the setting's (LasStream: its CRS's)."""
        return resolve_units(self.path, None, self.units_setting)

    def _coordinates(self, xyz: np.ndarray, start: int) -> None:
        bad = ~np.isfinite(xyz)
        if bad.any():
            self.bad_xyz.add(bad, start)
            self.failed = True
            return
        self.mins = np.minimum(self.mins, [xyz[:, a].min() for a in range(3)])
        self.maxs = np.maximum(self.maxs, [xyz[:, a].max() for a in range(3)])

    def _raise_first(self, problems: list[str | None]) -> None:
        """Raise the first of the problems given in the in-memory reader's order (the empty file and bad coordinates
        come first)."""
        if self.points == 0:
            raise PointCloudError(self.path, EMPTY)
        for problem in problems:
            if problem is not None:
                raise PointCloudError(self.path, problem)


class LasStream(PointStream):
    """LAS/LAZ through laspy.open(...).chunk_iterator: classification through `class_map` (None: unlabelled); units from
    the header's CRS, else the setting (pointseg.io.units; a setting that contradicts the CRS is refused here)."""

    def __init__(self, path: Path, class_map: ClassMap | None = None, units: "str | Units" = "auto"):
        super().__init__(path, units)
        self.header = _open_header(self.path)
        self._units = resolve_units(self.path, las_units(self.path, self.header), units)
        self.class_map = class_map
        names = set(self.header.point_format.dimension_names)
        self.has_rgb = {"red", "green", "blue"} <= names
        self.has_intensity = "intensity" in names
        self.colours, self.intensity_nonzero, self.labels, self.unknown = _Colours(), False, _Labels(), {}
        self.returns_nonzero = False

    def units(self) -> Units:
        return self._units

    def chunks(self, size: int = CHUNK_POINTS) -> Iterator[Chunk]:
        if self.header.point_count == 0:
            return
        try:
            reader = laspy.open(str(self.path))
        except Exception as err:  # laspy and lazrs raise several types for bad files
            raise _unreadable(self.path, err) from None
        with reader:
            records, start = reader.chunk_iterator(size), 0
            while True:
                try:
                    record = next(records)
                except StopIteration:
                    return
                except Exception as err:  # truncated or corrupt point data
                    raise _unreadable(self.path, err) from None
                yield self._chunk(record, start)
                start += len(record)

    def _chunk(self, record: laspy.ScaleAwarePointRecord, start: int) -> Chunk:
        xyz = np.stack([np.asarray(record.x, np.float64), np.asarray(record.y, np.float64), np.asarray(record.z, np.float64)], axis=1)
        self._coordinates(xyz, start)
        self.points += len(xyz)
        colour = np.stack([np.asarray(record.red), np.asarray(record.green), np.asarray(record.blue)], axis=1) if self.has_rgb else None
        if colour is not None:
            self.colours.add(colour, start)
        intensity = np.asarray(record.intensity, np.float32) if self.has_intensity else None
        if intensity is not None:
            self.intensity_nonzero |= bool(intensity.any())
            self.intensity_scale.add(intensity)
        returns = np.stack([np.asarray(record.return_number, np.uint8), np.asarray(record.number_of_returns, np.uint8)], axis=1)
        self.returns_nonzero |= bool(returns.any())
        labels = None
        if self.class_map is not None:
            labels, unknown = self.class_map.to_classes(np.asarray(record.classification))
            for code, n in unknown.items():
                self.unknown[code] = self.unknown.get(code, 0) + n
            self.labels.any_valid |= bool((labels >= 0).any())
            labels = labels.astype(np.int16)
        return Chunk(start, xyz, colour, intensity, labels, record, returns)

    def summary(self) -> FileSummary:
        self._raise_first([bad_coordinates_message(self.bad_xyz.count, self.bad_xyz.first) if self.bad_xyz.count else None])
        rule = None
        if self.has_rgb:
            if self.colours.nonzero:
                self._raise_first([self.colours.problem()])
                rule = self.colours.rule()
            else:
                warn_no_colour(self.path)
        n_unknown = warn_unknown_codes(self.path, self.unknown, self.class_map) if self.class_map is not None else 0
        return FileSummary(self.path, self.points, self.mins, self.maxs, rule, self.intensity_nonzero,
                           self.class_map is not None and self.labels.any_valid, n_unknown, crs_of(self.header), self.header,
                           self.returns_nonzero, self._units, self.intensity_scale.value() if self.intensity_nonzero else None)


class TextStream(PointStream):
    """STPLS3D text (x,y,z,r,g,b[,semantic,instance]) through pandas' C parser in chunks. Colours as read_stpls3d_txt
    takes them (pointseg.io.validate.text_colours): whole numbers 0..255, or decimals all within 0..1 scaled by 255."""

    def __init__(self, path: Path, units: "str | Units" = "auto"):
        super().__init__(path, units)
        if not self.path.is_file():
            raise PointCloudError(self.path, "file not found")
        self.n_cols = 0
        self.non_numeric: dict[int, str] = {}  # column -> the message of its first non-numeric value
        self.missing: dict[int, str] = {}  # column -> the message of its first missing value
        self.colours, self.labels = _Colours(), _Labels()

    def chunks(self, size: int = CHUNK_POINTS) -> Iterator[Chunk]:
        try:
            reader = pd.read_csv(self.path, header=None, engine="c", chunksize=size)
            start = 0
            with reader:
                for frame in reader:
                    chunk = self._chunk(frame, start)
                    start += len(frame)
                    if chunk is not None:
                        yield chunk
        except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
            raise csv_error(self.path, err) from None

    def _chunk(self, frame: pd.DataFrame, start: int) -> Chunk | None:
        self.n_cols = frame.shape[1]
        check_column_count(self.path, self.n_cols)
        self.points += len(frame)
        for c in range(self.n_cols):
            bad = non_numeric(frame, c, start + 1)
            if bad is not None:
                self.non_numeric.setdefault(c, bad[1])
        if self.non_numeric:
            self.failed = True
            return None
        columns = [frame[c].to_numpy() for c in range(self.n_cols)]
        xyz = np.stack([np.asarray(c, np.float64) for c in columns[:3]], axis=1)
        self._coordinates(xyz, start)
        missing = [c for c in range(3, self.n_cols) if columns[c].dtype.kind == "f" and np.isnan(columns[c]).any()]
        for c in missing:
            self.missing.setdefault(c, missing_value_message(c, start + first_bad_row(np.isnan(columns[c]))))
        if missing:  # the later checks cannot run on this chunk, and the file fails with the missing value anyway
            self.failed = True
            return None
        stored = np.stack(columns[3:6], axis=1)
        self.colours.add(stored, start)  # counted over every chunk: the message has the whole file's count
        labels = self.labels.add(columns[6], start) if self.n_cols == COLUMNS_LABELED else None
        self.failed |= bool(self.colours.bad.count) or self.labels.problem is not None  # decimals in 0..1 are never 'bad' 
        if self.failed:
            return None
        # whole numbers become uint8 here (0..255, checked); decimals stay as read: their rule needs the whole file
        colour = stored if stored.dtype.kind == "f" else stored.astype(np.uint8)
        return Chunk(start, xyz, colour, None, labels)

    def _colour_rule(self) -> tuple[str, str | None]:
        """(rule, problem) of the file's colours as validate.text_colours decides them for all its points at once."""
        c = self.colours
        if unit_colours(c.is_float, c.finite, c.low, c.high):
            return "unit", AMBIGUOUS_UNIT_COLOURS if c.high == 1 and c.binary else None
        bad = c.bad
        return "8bit", bad_colours_message(bad.count, bad.first, bad.values) if bad.count else None

    def summary(self) -> FileSummary:
        self._raise_first([
            self.non_numeric[min(self.non_numeric)] if self.non_numeric else None,
            bad_coordinates_message(self.bad_xyz.count, self.bad_xyz.first) if self.bad_xyz.count else None,
            self.missing[min(self.missing)] if self.missing else None,
            self._colour_rule()[1],
            None if self.labels.problem is None else self.labels.problem[1],
        ])
        if self.labels.out:
            warn_out_of_range_labels(self.path, self.labels.out, self.labels.found.tolist())
        labelled = self.n_cols == COLUMNS_LABELED
        return FileSummary(self.path, self.points, self.mins, self.maxs, self._colour_rule()[0], False, labelled,
                           self.labels.out if labelled else 0, units=self.units())


class PlyStream(PointStream):
    """Binary PLY through a memory map of its vertex element, one window of `size` points at a time."""

    def __init__(self, path: Path, units: "str | Units" = "auto"):
        super().__init__(path, units)
        if not self.path.is_file():
            raise PointCloudError(self.path, "file not found")
        try:
            ply = PlyData.read(str(self.path), mmap=True)
        except Exception as err:  # plyfile raises several types for malformed headers and bodies
            raise PointCloudError(self.path, f"not a readable PLY file ({err})") from None
        if "vertex" not in ply:
            raise PointCloudError(self.path, "no 'vertex' element")
        data = ply["vertex"].data
        names = {n.lower(): n for n in data.dtype.names}
        if not all(a in names for a in "xyz"):
            raise PointCloudError(self.path, f"vertex element lacks x, y, z (has {list(data.dtype.names)})")
        if not isinstance(data, np.memmap):
            raise PointCloudError(self.path, "an ASCII PLY (or one with list properties) cannot be read in parts, and this one is larger "
                                             "than the memory budget; convert it to binary PLY or LAS/LAZ (e.g. with CloudCompare or PDAL)")
        self.dtype, self.offset, self.count = data.dtype, int(data.offset), len(data)
        del data, ply  # the map is not touched: nothing of it is resident
        self.xyz_names = [names[a] for a in "xyz"]
        colour = next((c for c in COLOUR_FIELD_NAMES if all(n in names for n in c)), None)
        self.colour_names = None if colour is None else [names[n] for n in colour]
        self.intensity_name = next((names[c] for c in INTENSITY_FIELD_NAMES if c in names), None)
        self.label_name = next((names[c] for c in LABEL_FIELD_NAMES if c in names), None)
        self.colours, self.labels, self.bad_intensity = _Colours(), _Labels(), False

    def chunks(self, size: int = CHUNK_POINTS) -> Iterator[Chunk]:
        for start in range(0, self.count, size):
            n = min(size, self.count - start)
            window = np.memmap(self.path, self.dtype, "r", self.offset + start * self.dtype.itemsize, (n,))
            try:
                chunk = self._chunk(window, start)
            finally:
                del window  # unmapped: the resident memory stays one window
            if chunk is not None:
                yield chunk

    def _chunk(self, v: np.ndarray, start: int) -> Chunk | None:
        xyz = np.stack([np.asarray(v[n], np.float64) for n in self.xyz_names], axis=1)
        self._coordinates(xyz, start)
        self.points += len(xyz)
        colour = None if self.colour_names is None else np.stack([np.array(v[n]) for n in self.colour_names], axis=1)
        if colour is not None:
            self.colours.add(colour, start)
        intensity = None if self.intensity_name is None else np.asarray(v[self.intensity_name], np.float32)
        if intensity is not None and not np.isfinite(intensity).all():
            self.bad_intensity = self.failed = True
        elif intensity is not None:
            self.intensity_scale.add(intensity)
        labels = None if self.label_name is None else self.labels.add(np.array(v[self.label_name]), start)
        if self.labels.problem is not None:
            self.failed = True
        return None if self.failed else Chunk(start, xyz, colour, intensity, labels)

    def summary(self) -> FileSummary:
        self._raise_first([
            bad_coordinates_message(self.bad_xyz.count, self.bad_xyz.first) if self.bad_xyz.count else None,
            self.colours.problem() if self.colour_names is not None else None,
            f"NaN or infinite '{self.intensity_name}' values" if self.bad_intensity else None,
            None if self.labels.problem is None else self.labels.problem[1],
        ])
        if self.labels.out:
            warn_out_of_range_labels(self.path, self.labels.out, self.labels.found.tolist())
        labelled = self.label_name is not None
        return FileSummary(self.path, self.points, self.mins, self.maxs, None if self.colour_names is None else self.colours.rule(),
                           self.intensity_name is not None, labelled, self.labels.out if labelled else 0, units=self.units(),
                           intensity_reference=self.intensity_scale.value() if self.intensity_name is not None else None)


def open_stream(path: str | Path, class_map: ClassMap | None = None, units: "str | Units" = "auto") -> PointStream:
    """The chunked reader of a scene file by its suffix (.txt, .ply, .las, .laz); class_map: LAS/LAZ codes -> classes;
    units: the setting for files without a CRS (data.units / infer.units, or a Units), as read_scene takes it."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return TextStream(path, units)
    if suffix == ".ply":
        return PlyStream(path, units)
    if suffix in LAS_SUFFIXES:
        return LasStream(path, class_map, units)
    raise PointCloudError(path, f"unsupported file type '{suffix}', expected .txt (STPLS3D), .ply, .las or .laz")


# --- writers -------------------------------------------------------------------------------------------------------


class LabelledWriter:
    """A labelled copy written chunk by chunk, atomically: `with labelled_writer(...) as w: w.write(chunk, fields)`.
    Nothing appears at `path` unless every chunk was written and the block ended without error."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stack = ExitStack()
        self.written = 0

    def __enter__(self) -> "LabelledWriter":
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._open(self._stack.enter_context(open(tmp, "wb")))
        return self

    def __exit__(self, kind, value, traceback) -> bool:
        if kind is None:
            try:
                self._close()
            except BaseException as err:  # the temp file goes, the error stays
                self._stack.__exit__(type(err), err, err.__traceback__)
                raise
        return self._stack.__exit__(kind, value, traceback)

    def _open(self, f) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def write(self, chunk: Chunk, fields: dict[str, np.ndarray], classification: np.ndarray | None = None, rgb: np.ndarray | None = None) -> None:
        """Write a chunk's points with `fields` (n,) each; classification: ASPRS codes (n,) for LAS/LAZ; rgb (n, 3)
        uint8: the colours of a PLY or new LAS file (the input's, or the class palette)."""
        raise NotImplementedError


class LasCopyWriter(LabelledWriter):
    """A copy of a LAS/LAZ input with the extra dimensions `fields` (their dtypes), as write_las_copy writes it."""

    def __init__(self, path: Path, source: laspy.LasHeader, fields: dict[str, np.dtype], compress: bool, crs=None):
        super().__init__(path)
        self.header = copy_header(self.path, source, fields, crs)
        self.source, self.compress = source, compress

    def _open(self, f) -> None:
        self.writer = laspy.LasWriter(f, self.header, do_compress=self.compress, closefd=False)

    def write(self, chunk, fields, classification=None, rgb=None) -> None:
        self.writer.write_points(labelled_points(self.path, self.header, chunk.record, fields, classification))
        self.written += len(chunk)

    def _close(self) -> None:
        finish_las(self.writer, self.source)
        self.writer.close()


class LasNewWriter(LabelledWriter):
    """A new LAS 1.4 file for a text or PLY input, as write_las_new writes it (the bounds must be the whole file's)."""

    def __init__(self, path: Path, mins: np.ndarray, maxs: np.ndarray, has_rgb: bool, fields: dict[str, np.dtype], compress: bool,
                 crs=None):
        super().__init__(path)
        self.header = new_header(self.path, mins, maxs, has_rgb, fields, crs)
        self.compress = compress

    def _open(self, f) -> None:
        self.writer = laspy.LasWriter(f, self.header, do_compress=self.compress, closefd=False)

    def write(self, chunk, fields, classification=None, rgb=None) -> None:
        points = laspy.ScaleAwarePointRecord.zeros(len(chunk), header=self.header)
        points.x, points.y, points.z = chunk.xyz[:, 0], chunk.xyz[:, 1], chunk.xyz[:, 2]
        points.return_number[:] = 1  # as write_las_new: return 1 of 1 (0 is not a valid return number)
        points.number_of_returns[:] = 1
        if rgb is not None:
            points.red, points.green, points.blue = (rgb[:, i].astype(np.uint16) * 257 for i in range(3))
        if chunk.intensity is not None:
            points.intensity = np.clip(np.rint(chunk.intensity), 0, 65535).astype(np.uint16)
        if classification is not None:
            points.classification = classification
        for name, values in fields.items():
            points[name] = values
        self.writer.write_points(points)
        self.written += len(chunk)

    def _close(self) -> None:
        finish_las(self.writer)
        self.writer.close()


class PlyWriter(LabelledWriter):
    """A binary little-endian PLY of `points` vertices (x, y, z float64, red, green, blue uint8 when has_rgb, then
    `fields`), byte for byte what pointseg.io.ply.write_ply writes for the same points."""

    def __init__(self, path: Path, points: int, has_rgb: bool, fields: dict[str, np.dtype], comments: list[str]):
        super().__init__(path)
        dtype = [("x", "<f8"), ("y", "<f8"), ("z", "<f8")] + ([("red", "u1"), ("green", "u1"), ("blue", "u1")] if has_rgb else [])
        self.dtype = np.dtype(dtype + [(name, np.dtype(t).newbyteorder("<").str) for name, t in fields.items()])
        header = PlyData([PlyElement.describe(np.zeros(0, self.dtype), "vertex")], byte_order="<", comments=comments).header
        self.header = header.replace("\nelement vertex 0\n", f"\nelement vertex {points}\n") + "\n"
        self.points = points

    def _open(self, f) -> None:
        self.f = f
        f.write(self.header.encode("ascii"))

    def write(self, chunk, fields, classification=None, rgb=None) -> None:
        vertex = np.empty(len(chunk), self.dtype)
        vertex["x"], vertex["y"], vertex["z"] = chunk.xyz[:, 0], chunk.xyz[:, 1], chunk.xyz[:, 2]
        if "red" in self.dtype.names:
            vertex["red"], vertex["green"], vertex["blue"] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
        for name, values in fields.items():
            vertex[name] = values
        self.f.write(vertex.tobytes())
        self.written += len(chunk)

    def _close(self) -> None:
        if self.written != self.points:
            raise RuntimeError(f"{self.path}: {self.written} vertices written, the header says {self.points}")


def labelled_writer(path: str | Path, summary: FileSummary, fields: dict[str, np.dtype], has_rgb: bool,
                    comments: list[str] | None = None, crs=None) -> LabelledWriter:
    """The writer of a labelled copy of the file `summary` describes, in the format of `path`'s suffix: a LAS/LAZ
    input -> a copy of it (every dimension, VLR and EVLR); another input -> a new LAS/LAZ file; .ply -> binary PLY.
    fields: the extra dimensions or PLY fields and their dtypes, in order; has_rgb: PLY or new LAS files carry colours;
    crs: a pyproj CRS for a LAS/LAZ output whose input has none (--crs)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".ply":
        return PlyWriter(path, summary.points, has_rgb, fields, comments or [])
    if suffix not in LAS_SUFFIXES:
        raise ValueError(f"{path}: cannot write '{suffix}' files; expected .ply, .las or .laz")
    if summary.header is not None:
        return LasCopyWriter(path, summary.header, fields, suffix == ".laz", crs)
    return LasNewWriter(path, summary.mins, summary.maxs, has_rgb, fields, suffix == ".laz", crs)
