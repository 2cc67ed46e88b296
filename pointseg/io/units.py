"""Linear units of a point cloud's coordinates: metres per horizontal and per vertical unit.

Everything pointseg computes (patches, voxels, heights, features) is in metres; coordinates written out stay
exactly the input's. A LAS/LAZ file's units come from its CRS (a WKT record, or GeoTIFF keys: the projected
CRS's axis unit, ProjLinearUnitsGeoKey, VerticalUnitsGeoKey), read with pyproj. A file without a CRS is taken
in metres unless the setting (data.units / infer.units: m, ft, ftUS) says otherwise; a setting that contradicts
the file's CRS, or a CRS in degrees, is refused with the fix. Heights are taken in the horizontal unit when the
CRS names no vertical unit (a US state plane CRS in feet has heights in feet too).
"""

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pointseg.errors import PointCloudError

log = logging.getLogger(__name__)

US_SURVEY_FOOT = 1200.0 / 3937.0
METRES_PER_UNIT = {"m": 1.0, "ft": 0.3048, "ftUS": US_SURVEY_FOOT}
UNIT_WORDS = {1.0: "metres", 0.3048: "feet", US_SURVEY_FOOT: "US survey feet"}
GEOKEY_PROJ_LINEAR_UNITS, GEOKEY_VERTICAL_UNITS = 3076, 4099


@dataclass(frozen=True)
class Units:
    """horizontal, vertical: metres per coordinate unit; source: where they come from, for the log."""

    horizontal: float = 1.0
    vertical: float = 1.0
    source: str = "metres"

    @property
    def metric(self) -> bool:
        return self.horizontal == 1.0 and self.vertical == 1.0

    @property
    def scale(self) -> tuple[float, float, float]:
        """Metres per coordinate unit of x, y and z."""
        return (self.horizontal, self.horizontal, self.vertical)

    def describe(self) -> str:
        words = UNIT_WORDS.get(self.horizontal, f"{self.horizontal:g} m")
        if self.vertical != self.horizontal:
            words += f", heights in {UNIT_WORDS.get(self.vertical, f'{self.vertical:g} m')}"
        return f"{words} ({self.source})"


METRES = Units()


def metres_from(xyz: np.ndarray, origin: np.ndarray, units: Units) -> np.ndarray:
    """(n, 3) float64 metres of points xyz (n, 3) (file units) from `origin` (3,) (file units): every path's local
    coordinates (Scene.local_xyz, the big tiles, the parts of a scene) before their float32 step."""
    scale = units.scale
    local = np.empty(xyz.shape, np.float64)
    for a in range(3):  # column by column: 1-D ufuncs are faster on (N, 3) arrays
        local[:, a] = (xyz[:, a] - origin[a]) * scale[a]
    return local


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def _named(factor: float) -> float:
    """A conversion factor snapped onto the named units it equals (so their names and comparisons work)."""
    return next((v for v in METRES_PER_UNIT.values() if _close(v, factor)), factor)


def crs_units(crs) -> tuple[float | None, float | None]:
    """(metres per horizontal unit, metres per vertical unit) of a pyproj CRS; None where the CRS has no such axis,
    or its horizontal axes are angular (a geographic CRS in degrees)."""
    horizontal = vertical = None
    for part in crs.sub_crs_list or [crs]:  # a compound CRS: horizontal part + vertical part
        part = part.source_crs if part.is_bound else part  # a BoundCRS (towgs84 ...) wraps the real one
        for axis in part.axis_info:
            if axis.direction in ("up", "down"):
                vertical = _named(axis.unit_conversion_factor)
            elif not part.is_geographic and horizontal is None:
                horizontal = _named(axis.unit_conversion_factor)
    return horizontal, vertical


LINEAR_UNIT = re.compile(r'UNIT\s*\[\s*"([^"]*)"\s*,\s*([0-9.eE+-]+)')
LINEAR_WORDS = ("metre", "meter", "foot", "feet", "ft")


def wkt_linear_units(text: str) -> tuple[float | None, str]:
    """(metres per unit, unit name) of the last linear UNIT in a WKT text that pyproj cannot read (e.g. a PROJCS without
    its projection), or (None, '') when it names none."""
    found = [(name, float(f)) for name, f in LINEAR_UNIT.findall(text) if any(w in name.lower() for w in LINEAR_WORDS)]
    return (found[-1][1], found[-1][0]) if found else (None, "")


def las_units(path: Path, header) -> Units | None:
    """The units a LAS/LAZ header's CRS gives, or None when it has no CRS. Raises PointCloudError for a CRS in degrees."""
    from laspy.vlrs.known import GeoKeyDirectoryVlr, WktCoordinateSystemVlr

    try:
        crs = header.parse_crs()
    except Exception as err:  # a WKT pyproj cannot read: its UNIT nodes still say the units
        wkt = next((v.string for v in header.vlrs if isinstance(v, WktCoordinateSystemVlr)), "")
        factor, name = wkt_linear_units(wkt or "")
        if factor is None:
            log.warning("%s: its CRS cannot be read (%s) and names no linear unit; coordinates taken in metres "
                        "(set data.units / --units if they are not)", path, str(err).splitlines()[0])
            return None
        return Units(_named(factor), _named(factor), f"from the UNIT of a CRS pyproj cannot read: {name}")
    keys = {k.id: k.value_offset for v in header.vlrs if isinstance(v, GeoKeyDirectoryVlr) for k in v.geo_keys}
    horizontal, vertical = crs_units(crs) if crs is not None else (None, None)
    name = crs.name if crs is not None else None
    if crs is not None and crs.is_geographic and horizontal is None:
        raise PointCloudError(path, f"coordinates in degrees ({name}); reproject it to a projected CRS in metres or feet "
                                    f"first (e.g. pdal translate in.laz out.laz reprojection --filters.reprojection.out_srs=EPSG:...)")
    from pyproj.database import get_units_map

    by_code = {int(u.code): u.conv_factor for u in get_units_map(auth_name="EPSG", category="linear").values()}
    if horizontal is None and GEOKEY_PROJ_LINEAR_UNITS in keys:
        horizontal = by_code.get(keys[GEOKEY_PROJ_LINEAR_UNITS])
        name = name or "GeoTIFF keys"
    if GEOKEY_VERTICAL_UNITS in keys and keys[GEOKEY_VERTICAL_UNITS] in by_code:
        vertical = by_code[keys[GEOKEY_VERTICAL_UNITS]]
    if horizontal is None:
        return None
    horizontal = _named(horizontal)
    vertical = _named(vertical) if vertical is not None else horizontal
    return Units(horizontal, vertical, f"from its CRS, {name}")


def units_of_crs(crs, where: str = "--crs") -> Units:
    """The Units of a pyproj CRS given as an option (e.g. --crs for text scenes); degrees are refused."""
    horizontal, vertical = crs_units(crs)
    if horizontal is None:
        raise PointCloudError(where, f"'{crs.name}' is not in metres or feet (degrees?); give a projected CRS")
    return Units(horizontal, vertical or horizontal, f"from {where} {crs.name}")


def resolve_units(path: Path, from_crs: Units | None, setting: "str | Units") -> Units:
    """The units to use for a file: its CRS's; else the setting's ('auto' = metres; a Units, e.g. from --crs, as it is).
    A named setting other than 'auto' that contradicts the CRS is refused."""
    if isinstance(setting, Units):
        return from_crs if from_crs is not None else setting
    if setting == "auto":
        return from_crs if from_crs is not None else Units(1.0, 1.0, "no CRS: taken as metres; set data.units / --units otherwise")
    factor = METRES_PER_UNIT[setting]
    if from_crs is not None and not _close(from_crs.horizontal, factor):
        raise PointCloudError(path, f"the units setting says {setting}, but the file's CRS is in {from_crs.describe()}; "
                                    f"use --units auto (or leave data.units / infer.units at auto)")
    return from_crs if from_crs is not None else Units(factor, factor, f"units setting {setting}")
