"""Coordinate reference systems of labelled outputs: `--crs` (an EPSG code or WKT) for inputs that carry none, checked
against the CRS an input does carry; the CRS as text for a PLY comment. Through pyproj (laspy reads and writes
CRSs with it)."""

from pathlib import Path
from typing import TYPE_CHECKING

import laspy

from pointseg.errors import InputError, PointCloudError
from pointseg.io.las import LAS_SUFFIXES, crs_of, read_las_header

if TYPE_CHECKING:
    import pyproj


def parse_crs(text: str, where: str = "--crs") -> "pyproj.CRS":
    """A CRS from an EPSG code ('32633', 'EPSG:32633', 'EPSG:32633+5773'), WKT or anything pyproj takes."""
    import pyproj

    try:
        return pyproj.CRS.from_user_input(text.strip())
    except pyproj.exceptions.CRSError as err:
        reason = str(err).splitlines()[0][:160]
        raise InputError(f"{where} {text[:80]!r}: not a coordinate reference system ({reason}); give an EPSG code "
                         "(e.g. EPSG:32633, or EPSG:32633+5773 with heights) or WKT") from None


def same_crs(a: "pyproj.CRS", b: "pyproj.CRS") -> bool:
    """Equivalent CRSs (names and axis order of a geographic CRS aside), or the same EPSG code."""
    if a.equals(b, ignore_axis_order=True):
        return True
    code = a.to_epsg()
    return code is not None and code == b.to_epsg()


def file_crs(header: laspy.LasHeader) -> "pyproj.CRS | None":
    """The CRS a LAS/LAZ header carries (WKT first, else GeoTIFF keys), or None when laspy cannot read one from it."""
    try:
        return header.parse_crs(prefer_wkt=True)
    except Exception:  # laspy raises several types for unreadable or user-defined CRS records
        return None


def check_crs_option(crs: "pyproj.CRS", files: list[Path]) -> None:
    """Refuse `--crs` for an input that carries another CRS (or one that cannot be compared), before any work.

    Only LAS/LAZ inputs carry a CRS; their headers are read, not their points."""
    for path in files:  # a loop over files
        if Path(path).suffix.lower() not in LAS_SUFFIXES:
            continue
        header = read_las_header(path)
        if crs_of(header) is None:
            continue
        own = file_crs(header)
        if own is None:
            raise PointCloudError(path, f"carries a CRS of its own that cannot be compared with --crs {crs.name}; leave --crs out "
                                        "(a labelled LAS/LAZ copy keeps the file's CRS)")
        if not same_crs(crs, own):
            raise PointCloudError(path, f"carries the CRS '{own.name}', but --crs is '{crs.name}'; leave --crs out (a labelled "
                                        "copy keeps the file's CRS) or reproject the file first")


def crs_option(text: str, files: list[Path]) -> "pyproj.CRS | None":
    """The CRS of `--crs` / infer.crs ('' -> None), checked against every input (check_crs_option)."""
    if not text:
        return None
    crs = parse_crs(text)
    check_crs_option(crs, files)
    return crs


def add_crs(path: Path, header: laspy.LasHeader, crs: "pyproj.CRS") -> None:
    """Write `crs` into a header without one: a WKT record for point formats 6-10, GeoTIFF keys (an EPSG code) for 0-5."""
    try:
        header.add_crs(crs)
    except (RuntimeError, ValueError) as err:
        raise InputError(f"{path}: --crs '{crs.name}' cannot be written into LAS point format {header.point_format.id} "
                         f"({err}); point formats 0-5 take a single EPSG code (e.g. the horizontal one)") from None


def header_wkt(header: laspy.LasHeader) -> str | None:
    """A header's CRS as one line of WKT (the file's own WKT when it has one), or None."""
    text = crs_of(header)
    if text is None:
        return None
    if not text.startswith("GeoKeys"):
        return " ".join(text.split())
    crs = file_crs(header)
    return None if crs is None else crs_wkt(crs)


def crs_wkt(crs: "pyproj.CRS") -> str:
    """One line of WKT (WKT2 2019) of a CRS."""
    return crs.to_wkt(pretty=False)
