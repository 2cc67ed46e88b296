"""Write synthetic LiDAR scans as LAS 1.4 / LAZ files (`N_lidar.laz`), georeferenced, with a WKT CRS.

Point format 6 (7 with colour); ASPRS classification (see lidar.ASPRS_OF_CLASS and the shipped class map
configs/class_maps/synthetic_lidar.yaml); gps_time in adjusted standard GPS time; scan_angle in 0.006 degree
steps; point_source_id the strip. Coordinates in metres (WGS 84 / UTM 31N, EPSG:32631) or, with
units="ftUS", the same scene in US survey feet, horizontally and vertically (NAD83 / New York East (ftUS) +
NAVD88 height (ftUS), EPSG:8764). Files are written atomically and never replace a file pointseg did not write.
"""

import datetime
from pathlib import Path

import laspy
import numpy as np
from laspy.vlrs.known import WktCoordinateSystemVlr

from pointseg.io.atomic import atomic_path
from pointseg.io.units import US_SURVEY_FOOT
from pointseg.synthetic.files import DEFAULT_ORIGIN, refuse_existing
from pointseg.synthetic.lidar import Flight, LidarScan, make_lidar_scene

UNITS = ("m", "ftUS")
SCALE = 0.01  # cm, or hundredths of a foot
GPS_EPOCH = datetime.datetime(1980, 1, 6)

WKT_UTM31N = (
    'PROJCS["WGS 84 / UTM zone 31N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],'
    'UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]],'
    'PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",3],'
    'PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",500000],PARAMETER["false_northing",0],'
    'UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Easting",EAST],AXIS["Northing",NORTH],AUTHORITY["EPSG","32631"]]'
)
WKT_NY_EAST_FTUS_NAVD88_FTUS = (
    'COMPD_CS["NAD83 / New York East (ftUS) + NAVD88 height (ftUS)",PROJCS["NAD83 / New York East (ftUS)",'
    'GEOGCS["NAD83",DATUM["North_American_Datum_1983",SPHEROID["GRS 1980",6378137,298.257222101,AUTHORITY["EPSG","7019"]],'
    'AUTHORITY["EPSG","6269"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,'
    'AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4269"]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["latitude_of_origin",38.8333333333333],PARAMETER["central_meridian",-74.5],PARAMETER["scale_factor",0.9999],'
    'PARAMETER["false_easting",492125],PARAMETER["false_northing",0],UNIT["US survey foot",0.304800609601219,'
    'AUTHORITY["EPSG","9003"]],AXIS["Easting",EAST],AXIS["Northing",NORTH],AUTHORITY["EPSG","2260"]],'
    'VERT_CS["NAVD88 height (ftUS)",VERT_DATUM["North American Vertical Datum 1988",2005,AUTHORITY["EPSG","5103"]],'
    'UNIT["US survey foot",0.304800609601219,AUTHORITY["EPSG","9003"]],AXIS["Gravity-related height",UP],'
    'AUTHORITY["EPSG","6360"]],AUTHORITY["EPSG","8764"]]'
)
# Per unit: (CRS WKT, the scene's origin in the file's units: a place in that CRS's area)
CRS_OF_UNITS = {
    "m": (WKT_UTM31N, DEFAULT_ORIGIN),
    "ftUS": (WKT_NY_EAST_FTUS_NAVD88_FTUS, (600000.0, 700000.0, 100.0 / US_SURVEY_FOOT)),
}


def lidar_path(out: str | Path, n: int) -> Path:
    return Path(out) / f"{n}_lidar.laz"


def write_lidar_las(path: str | Path, scan: LidarScan, units: str = "m") -> None:
    """Write a scan (local metres) as LAS/LAZ (by suffix) in `units` ("m" or "ftUS"), atomically; never over a file
    pointseg did not write (pointseg.io.ownership)."""
    path = Path(path)
    if units not in UNITS:
        raise ValueError(f"units '{units}': expected one of {UNITS}")
    wkt, origin = CRS_OF_UNITS[units]
    factor = 1.0 if units == "m" else 1 / US_SURVEY_FOOT
    xyz = np.asarray(origin, np.float64) + scan.xyz * factor
    header = laspy.LasHeader(version="1.4", point_format=7 if scan.rgb is not None else 6)
    header.system_identifier = "pointseg synthetic"
    header.generating_software = "pointseg make_synthetic lidar"
    header.offsets = np.floor(xyz.min(axis=0))
    header.scales = np.full(3, SCALE)
    header.vlrs.append(WktCoordinateSystemVlr(wkt))
    header.global_encoding.wkt = True
    header.global_encoding.gps_time_type = laspy.header.GpsTimeType.STANDARD
    seconds = float(np.median(scan.gps_time)) + 1e9 if len(scan) else 0.0
    header.creation_date = (GPS_EPOCH + datetime.timedelta(seconds=seconds)).date()
    las = laspy.LasData(header)
    las.points = laspy.ScaleAwarePointRecord.zeros(len(xyz), header=header)
    las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    las.intensity = scan.intensity
    las.return_number = scan.return_number
    las.number_of_returns = scan.number_of_returns
    las.classification = scan.codes
    las.scan_angle = np.clip(np.rint(scan.scan_angle / 0.006), -30000, 30000).astype(np.int16)
    las.point_source_id = scan.strip
    las.gps_time = scan.gps_time
    las.scan_direction_flag = np.ones(len(xyz), np.uint8)  # a rotating mirror: every line the same way
    las.edge_of_flight_line = scan.edge.astype(np.uint8)
    las.overlap = scan.overlap.astype(np.uint8)
    if scan.rgb is not None:
        las.red, las.green, las.blue = (scan.rgb[:, i].astype(np.uint16) * 257 for i in range(3))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # laspy decides compression by suffix; the temp file has none
        las.write(f, do_compress=path.suffix.lower() == ".laz")


SURVEYS = ((600.0, 30.0), (1000.0, 20.0), (1500.0, 15.0), (800.0, 25.0))  # (altitude m, scan half angle degrees)


def varied_flight(n: int, densities: list[float]) -> Flight:
    """The flight of scene n in a training set of mixed surveys: density densities[n % len], and altitude and scan angle
    cycling through SURVEYS (low and wide to high and narrow), so a model sees many programmes."""
    altitude, half_angle = SURVEYS[n % len(SURVEYS)]
    return Flight(density=float(densities[n % len(densities)]), altitude=altitude, half_angle=half_angle)


def ensure_lidar_scenes(out: str | Path, scenes: list[int], size: float, densities: list[float], seed: int = 0,
                        workers: int = 1) -> list[Path]:
    """The scans N_lidar.laz of numbers `scenes` in `out` (flights from varied_flight), writing those that are missing."""
    from concurrent.futures import ProcessPoolExecutor

    missing = [n for n in scenes if not lidar_path(out, n).is_file()]
    refuse_existing(out, missing, lidar_path)
    jobs = [(out, [n], size, varied_flight(n, densities), seed) for n in missing]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(min(workers, len(jobs))) as pool:
            list(pool.map(write_lidar_scenes, *zip(*jobs)))
    else:
        for job in jobs:
            write_lidar_scenes(*job)
    return [lidar_path(out, n) for n in scenes]


def write_lidar_scenes(out: str | Path, scenes: list[int], size: float = 500.0, flight: Flight = Flight(), seed: int = 0,
                       colour: str | None = None, units: str = "m") -> list[Path]:
    """Write one scan per number in `scenes` as `N_lidar.laz`; scene n is the city of the photogrammetry scene n
    of the same seed. Returns the paths. Refuses (before writing any) if a file to be written exists."""
    refuse_existing(out, scenes, lidar_path)
    paths = []
    for n in scenes:
        scan = make_lidar_scene(seed * 100003 + n, size, flight, colour)
        path = lidar_path(out, n)
        write_lidar_las(path, scan, units)
        paths.append(path)
    return paths
