"""LAS/LAZ point clouds through laspy (LAZ with the lazrs backend): LAS 1.2-1.4, point formats 0-10.

Reading keeps the laspy.LasData in Scene.source, so a labelled copy of the file (header, VLRs/EVLRs,
every original dimension) can be written without reading it again.
"""

import copy
import logging
from pathlib import Path

import laspy
import numpy as np

from pointseg import __version__
from pointseg.io.atomic import atomic_path
from pointseg.io.class_map import ClassMap
from pointseg.errors import PointCloudError
from pointseg.io.fields import description
from pointseg.io.scene import Scene, SceneBounds
from pointseg.io.units import Units, las_units, resolve_units
from pointseg.io.validate import check_coordinates, colours_by_stored_range

log = logging.getLogger(__name__)

LAS_SUFFIXES = (".las", ".laz")
GEOKEY_DIRECTORY, GEOKEY_DOUBLES, GEOKEY_ASCII, WKT_CRS = 34735, 34736, 34737, 2112
SMALL_CLASSIFICATION_FORMATS = range(0, 6)  # point formats 0-5 store classification in 5 bits (0..31)
GENERATING_SOFTWARE = f"pointseg {__version__}"  # the header's 'generating software' of every file pointseg writes


def _unreadable(path: Path, err: Exception) -> PointCloudError:
    message = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, laspy.errors.PointFormatNotSupported):
        return PointCloudError(path, f"point format {message} is not supported (LAS point formats 0-10)")
    if isinstance(err, laspy.errors.FileVersionNotSupported):
        return PointCloudError(path, f"LAS version {message} is not supported (LAS 1.0-1.4)")
    kind = "LAZ" if path.suffix.lower() == ".laz" else "LAS"
    return PointCloudError(path, f"not a readable {kind} file ({message}); is it truncated or corrupt?")


def _open_header(path: Path) -> laspy.LasHeader:
    if not path.is_file():
        raise PointCloudError(path, "file not found")
    if path.stat().st_size == 0:
        raise PointCloudError(path, "empty file (0 bytes)")
    try:
        with laspy.open(str(path)) as reader:
            return reader.header
    except Exception as err:  # laspy and lazrs raise several types for bad headers
        raise _unreadable(path, err) from None


def crs_of(header: laspy.LasHeader) -> str | None:
    """The file's CRS as text, for comparing tiles: the WKT VLR/EVLR, else the GeoTIFF keys; None without either.

    Needs no pyproj: two tiles in the same CRS written by the same tool give the same text."""
    records = list(header.vlrs) + list(header.evlrs or [])
    projection = [v for v in records if v.user_id.rstrip("\0") == "LASF_Projection"]
    for v in projection:
        if v.record_id == WKT_CRS:
            text = getattr(v, "string", None) or v.record_data_bytes().decode("utf-8", "replace")
            return text.rstrip("\0").strip() or None
    by_id = {v.record_id: v for v in projection}
    if GEOKEY_DIRECTORY not in by_id:
        return None
    keys = getattr(by_id[GEOKEY_DIRECTORY], "geo_keys", [])
    text = "GeoKeys " + ",".join(f"{k.id}:{k.tiff_tag_location}:{k.count}:{k.value_offset}" for k in keys)
    if GEOKEY_DOUBLES in by_id:  # keys may point into the double and ASCII parameter records
        text += " doubles " + bytes(by_id[GEOKEY_DOUBLES].record_data_bytes()).hex()
    if GEOKEY_ASCII in by_id:
        text += " ascii " + bytes(by_id[GEOKEY_ASCII].record_data_bytes()).decode("latin-1").rstrip("\0")
    return text


def read_las_header(path: str | Path) -> laspy.LasHeader:
    """The header of a LAS/LAZ file (VLRs and EVLRs included), without its points; errors name the file."""
    return _open_header(Path(path))


def read_las_bounds(path: str | Path) -> SceneBounds:
    """Bounds, point count and CRS from the LAS/LAZ header alone (no points are read or decompressed)."""
    path = Path(path)
    header = _open_header(path)
    return SceneBounds(path, np.asarray(header.mins, np.float64), np.asarray(header.maxs, np.float64), int(header.point_count), crs_of(header))


def read_las_units(path: str | Path, units: str = "auto") -> Units:
    """The units of a LAS/LAZ file from its header alone: its CRS's, else the setting's (pointseg.io.units)."""
    path = Path(path)
    return resolve_units(path, las_units(path, _open_header(path)), units)


def read_las(path: str | Path, class_map: ClassMap | None = None, laz_backend: laspy.LazBackend | None = None, units: str = "auto") -> Scene:
    """Read a LAS/LAZ file.

    xyz: float64 from the integer coordinates, scales and offsets. rgb: the 16-bit fields mapped to 0..255
    by the range actually stored (8-bit values in 16-bit fields stay as they are); None for point formats
    without colour or when every colour value is 0. intensity: float32 as stored; None when all 0. returns: return number
    and number of returns (N, 2) uint8; None when all 0.
    labels: `classification` through `class_map` (codes not in it -> -100, counted in one warning);
    None without a class map or when no point maps to a class (an unlabelled file).
    units: the file's CRS decides (pointseg.io.units); without one, `units` ('auto' = metres, m, ft, ftUS).
    """
    path = Path(path)
    header = _open_header(path)  # the header's own errors first, with the file's name
    scene_units = resolve_units(path, las_units(path, header), units)
    try:
        las = laspy.read(str(path), laz_backend=laz_backend) if laz_backend is not None else laspy.read(str(path))
    except Exception as err:
        raise _unreadable(path, err) from None
    if len(las.points) == 0:
        raise PointCloudError(path, "empty scene: the file holds no points")
    xyz = np.stack([np.asarray(las.x, np.float64), np.asarray(las.y, np.float64), np.asarray(las.z, np.float64)], axis=1)
    check_coordinates(path, xyz)
    names = set(las.point_format.dimension_names)
    rgb = None
    if {"red", "green", "blue"} <= names:
        stored = np.stack([np.asarray(las.red), np.asarray(las.green), np.asarray(las.blue)], axis=1)
        if stored.any():
            rgb = colours_by_stored_range(path, stored)
        else:
            warn_no_colour(path)
    intensity = np.asarray(las.intensity, np.float32) if "intensity" in names else None
    if intensity is not None and not intensity.any():
        intensity = None
    returns = np.stack([np.asarray(las.return_number, np.uint8), np.asarray(las.number_of_returns, np.uint8)], axis=1)
    if not returns.any():
        returns = None  # never set (all 0): no return information
    labels, n_unknown = None, 0
    if class_map is not None:
        labels, unknown = class_map.to_classes(np.asarray(las.classification))
        n_unknown = warn_unknown_codes(path, unknown, class_map)
        if not (labels >= 0).any():
            labels = None  # unlabelled (e.g. all 'unclassified'): nothing to score or train on
    return Scene(path, xyz, rgb, labels, None, n_unknown, intensity=intensity, source=las, units=scene_units, returns=returns)


def extra_dimensions(fields: dict[str, "np.ndarray | np.dtype"]) -> list[laspy.ExtraBytesParams]:
    """Extra-bytes definitions of `fields` {name: (N,) array or dtype}: their dtypes and pointseg's descriptions (<= 32 characters)."""
    return [laspy.ExtraBytesParams(name=n, type=np.dtype(getattr(v, "dtype", v)), description=description(n)) for n, v in fields.items()]


def copy_header(path: Path, source: laspy.LasHeader, fields: dict[str, "np.ndarray | np.dtype"], crs=None) -> laspy.LasHeader:
    """The header of a labelled copy at `path`: the source's (version, point format, scales, offsets, VLRs/EVLRs with the
    CRS) plus `fields` ({name: array or dtype}) as extra dimensions (one of the same name already in the source, from a
    file labelled before, is replaced, with a warning), pointseg as generating software, and `crs` (a pyproj CRS) when
    the source carries none. The same header for a file written at once or in chunks (pointseg.io.stream)."""
    header = copy.deepcopy(source)
    replaced = [n for n in fields if n in set(header.point_format.extra_dimension_names)]
    if replaced:
        log.warning("%s: replacing the extra dimension(s) %s already in the input", path, replaced)
        header.remove_extra_dims(replaced)
    clash = [n for n in fields if n in set(header.point_format.dimension_names)]
    if clash:
        raise ValueError(f"{path}: {clash} are standard dimensions of point format {header.point_format.id}")
    header.add_extra_dims(extra_dimensions(fields))
    _without_ranges(header, set(fields))
    header.generating_software = GENERATING_SOFTWARE
    if crs is not None and crs_of(header) is None:
        from pointseg.io.crs import add_crs

        add_crs(path, header, crs)
    return header


def write_las_copy(path: str | Path, source: laspy.LasData, fields: dict[str, np.ndarray],
                   classification: np.ndarray | None = None, compress: bool | None = None, crs=None) -> None:
    """Write `source` again with its header, VLRs/EVLRs and every dimension, plus `fields` as extra bytes
    dimensions ((N,) arrays, their dtype kept) and, if given, new `classification` codes (N,), atomically.

    compress: LAZ or LAS; None decides by the suffix of `path`. crs: a pyproj CRS for a source without one.
    """
    path = Path(path)
    compress = path.suffix.lower() == ".laz" if compress is None else compress
    header = copy_header(path, source.header, fields, crs)
    _write(path, laspy.LasData(header, labelled_points(path, header, source.points, fields, classification)), compress, source.header)


MIN_MAX_RELEVANT = 0b110  # extra bytes descriptor options: min (bit 1) and max (bit 2) are set (LAS 1.4 R15, table 24)


def _extra_bytes(header: laspy.LasHeader) -> list:
    found = header.vlrs.get("ExtraBytesVlr")
    return list(found[0].extra_bytes_structs) if found else []


def _without_ranges(header: laspy.LasHeader, names: set[str]) -> None:
    """Our extra dimensions carry no min/max: laspy 2.7 'grows' them from the first point of each write only (pts[..., 0]
    of a one-value field), so they would be wrong, and differ between a file written at once and in chunks."""
    for struct in _extra_bytes(header):
        if struct.name.rstrip(b"\0").decode() in names:
            struct.options &= ~MIN_MAX_RELEVANT


def finish_las(writer: laspy.LasWriter, source: laspy.LasHeader | None = None) -> None:
    """Before a labelled file's writer closes: the input's own extra dimensions get the input's min/max back (their
    values are copied unchanged; laspy's are wrong, see _without_ranges), then the EVLRs are written."""
    if source is not None:
        kept = {s.name: s for s in _extra_bytes(source)}
        for struct in _extra_bytes(writer.header):
            if struct.name in kept and struct.options & MIN_MAX_RELEVANT:
                struct._min[:], struct._max[:] = kept[struct.name]._min[:], kept[struct.name]._max[:]
    if writer.header.version.minor >= 4 and writer.header.evlrs:
        writer.write_evlrs(writer.header.evlrs)


def labelled_points(path: Path, header: laspy.LasHeader, source: laspy.ScaleAwarePointRecord, fields: dict[str, np.ndarray],
                    classification: np.ndarray | None = None) -> laspy.ScaleAwarePointRecord:
    """The points of `source` (n records, any chunk of a file) in the format of `header` (copy_header), with
    `fields` (n,) and, if given, new `classification` codes (n,)."""
    points = laspy.ScaleAwarePointRecord.zeros(len(source), header=header)
    points.copy_fields_from(source)
    for name, values in fields.items():
        points[name] = values
    if classification is not None:
        if header.point_format.id in SMALL_CLASSIFICATION_FORMATS and int(classification.max(initial=0)) > 31:
            raise ValueError(f"{path}: class codes above 31 do not fit point format {header.point_format.id}'s 5-bit classification")
        points["classification"] = classification
    return points


def warn_no_colour(path: Path) -> None:
    log.warning("%s: every colour value is 0: read as a file without colour", path)


def warn_unknown_codes(path: Path, unknown: dict[int, int], class_map: ClassMap) -> int:
    """Log the one warning of a file for classification codes not in the class map ({code: points}); returns their points."""
    n_unknown = sum(unknown.values())
    if n_unknown:
        log.warning("%s: %d points with classification codes not in the class map %s (%s) ignored", path, n_unknown,
                    class_map.name, ", ".join(f"code {c}: {n}" for c, n in sorted(unknown.items())))
    return n_unknown


def _write(path: Path, las: laspy.LasData, compress: bool, source: laspy.LasHeader | None = None) -> None:
    """Write atomically; through a file object, since laspy decides compression by a path's suffix (here '.tmp').
    As LasData.write, with finish_las (a file written in chunks, pointseg.io.stream, is the same bytes)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f, laspy.LasWriter(f, las.header, do_compress=compress, closefd=False) as writer:
        writer.write_points(las.points)
        finish_las(writer, source)


def coordinate_scale(xyz: np.ndarray, offset: np.ndarray, finest: float = 1e-6) -> float:
    """The finest power-of-ten scale >= `finest` whose int32 coordinates hold the scene's extent from `offset`;
    xyz: the points (N, 3), or only their minimum and maximum corners (2, 3)."""
    span = float(np.abs(xyz - offset).max()) if len(xyz) else 0.0
    scale = finest
    while span / scale > 2**31 - 2:
        scale *= 10
    return scale


def new_header(path: Path, mins: np.ndarray, maxs: np.ndarray, has_rgb: bool, fields: dict[str, "np.ndarray | np.dtype"], crs=None) -> laspy.LasHeader:
    """The header of a new LAS 1.4 file (point format 7 with colour, 6 without) for points within mins..maxs (3,)
    float64: offsets whole metres at the minimum, the finest power-of-ten scale from 1 micrometre that fits, `fields`
    ({name: array or dtype}) as extra dimensions, pointseg as generating software, `crs` (a pyproj CRS) or none."""
    header = laspy.LasHeader(version="1.4", point_format=7 if has_rgb else 6)
    offset = np.floor(mins)
    header.offsets = offset
    header.scales = np.full(3, coordinate_scale(np.stack([mins, maxs]), offset))
    header.add_extra_dims(extra_dimensions(fields))
    _without_ranges(header, set(fields))
    header.generating_software = GENERATING_SOFTWARE
    if crs is not None:
        from pointseg.io.crs import add_crs

        add_crs(path, header, crs)
    return header


def write_las_new(path: str | Path, xyz: np.ndarray, rgb: np.ndarray | None, fields: dict[str, np.ndarray],
                  classification: np.ndarray | None = None, intensity: np.ndarray | None = None, compress: bool | None = None,
                  crs=None) -> None:
    """A new LAS 1.4 file (point format 7 with colour, 6 without) from points read elsewhere (txt/PLY), atomically.

    Offsets are whole metres at the minimum; the scale is the finest power of ten from 1 micrometre that
    fits (1e-6 up to a 2 km extent), so text scenes' 6 decimals survive. rgb (N, 3) uint8 -> 16-bit (x 257).
    Every point is return 1 of 1 (a text or PLY scene has no returns; 0 is not a valid return number).
    crs: a pyproj CRS to write (--crs), or None.
    """
    path = Path(path)
    compress = path.suffix.lower() == ".laz" if compress is None else compress
    header = new_header(path, xyz.min(axis=0), xyz.max(axis=0), rgb is not None, fields, crs)
    las = laspy.LasData(header)
    las.points = laspy.ScaleAwarePointRecord.zeros(len(xyz), header=header)
    las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    las.return_number[:] = 1
    las.number_of_returns[:] = 1
    if rgb is not None:
        las.red, las.green, las.blue = (rgb[:, i].astype(np.uint16) * 257 for i in range(3))
    if intensity is not None:
        las.intensity = np.clip(np.rint(intensity), 0, 65535).astype(np.uint16)
    if classification is not None:
        las.classification = classification
    for name, values in fields.items():
        las[name] = values
    _write(path, las, compress)
