"""Class maps: a file's class codes (e.g. ASPRS LAS classification) <-> pointseg's 15 classes, from YAML.

    classes: {code: class}      # class in 0..14, or -100 to ignore the code
    inverse: {class: code}      # optional; what --write-class classification writes for a class
    unmapped_code: 1            # optional; the code for a class nothing maps to (default 1, 'unclassified')

A bare name ('asprs') is a map shipped in pointseg/configs/class_maps/; anything else is a path to a YAML file.
"""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from pointseg.config import shipped_configs
from pointseg.constants import IGNORE_LABEL, NUM_CLASSES
from pointseg.errors import ClassMapError

SHIPPED_MAPS = shipped_configs() / "class_maps"  # package data: found in an installed package too
MAX_CODE = 255  # LAS classification is one byte (5 bits in point formats 0-5)


@dataclass(frozen=True)
class ClassMap:
    """forward (256,) int64: code -> class or -100; listed (256,) bool: the code is in the map;
    inverse (15,) int64: class -> code."""

    name: str
    forward: np.ndarray
    listed: np.ndarray
    inverse: np.ndarray

    def to_classes(self, codes: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
        """(N,) codes -> (N,) int64 classes (-100 ignored), and {code: points} for codes not in the map."""
        codes = np.asarray(codes).astype(np.int64)
        if codes.size and (codes.min() < 0 or codes.max() > MAX_CODE):
            raise ValueError(f"class codes outside 0..{MAX_CODE}")
        counts = np.bincount(codes, minlength=MAX_CODE + 1)
        unknown = np.flatnonzero((counts > 0) & ~self.listed)
        return self.forward[codes], {int(c): int(counts[c]) for c in unknown}

    def to_codes(self, classes: np.ndarray) -> np.ndarray:
        """(N,) classes 0..14 -> (N,) uint8 codes through the inverse map."""
        return self.inverse[np.asarray(classes, np.int64)].astype(np.uint8)


def _int_keys(mapping: object, where: str, what: str) -> dict[int, int]:
    if not isinstance(mapping, dict):
        raise ClassMapError(f"{where}: '{what}' must be a mapping")
    try:
        return {int(k): int(v) for k, v in mapping.items()}
    except (TypeError, ValueError):
        raise ClassMapError(f"{where}: '{what}' must map whole numbers to whole numbers") from None


def class_map_from_dict(values: dict, where: str = "class map") -> ClassMap:
    """Build a ClassMap from the parsed YAML mapping (see the module docstring)."""
    unknown = sorted(set(values) - {"classes", "inverse", "unmapped_code"})
    if unknown:
        raise ClassMapError(f"{where}: unknown key(s) {unknown}; known: classes, inverse, unmapped_code")
    classes = _int_keys(values.get("classes"), where, "classes")
    inverse_given = _int_keys(values.get("inverse", {}) or {}, where, "inverse")
    unmapped = values.get("unmapped_code", 1)
    bad_codes = [c for c in [*classes, *inverse_given.values(), unmapped] if not isinstance(c, int) or not 0 <= c <= MAX_CODE]
    if bad_codes:
        raise ClassMapError(f"{where}: codes must be whole numbers in 0..{MAX_CODE}, got {bad_codes[:5]}")
    bad_classes = [k for k in [*classes.values(), *inverse_given] if k != IGNORE_LABEL and not 0 <= k < NUM_CLASSES]
    if bad_classes:
        raise ClassMapError(f"{where}: classes must be 0..{NUM_CLASSES - 1} or {IGNORE_LABEL}, got {bad_classes[:5]}")
    forward = np.full(MAX_CODE + 1, IGNORE_LABEL, np.int64)
    listed = np.zeros(MAX_CODE + 1, bool)
    for code, cls in classes.items():
        forward[code], listed[code] = cls, True
    inverse = np.full(NUM_CLASSES, unmapped, np.int64)
    for code in sorted(classes, reverse=True):  # the smallest code wins
        if classes[code] != IGNORE_LABEL:
            inverse[classes[code]] = code
    for cls, code in inverse_given.items():
        inverse[cls] = code
    return ClassMap(where, forward, listed, inverse)


@lru_cache(maxsize=16)
def load_class_map(name_or_path: str) -> ClassMap:
    """A shipped map by name ('asprs') or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix.lower() not in (".yaml", ".yml") and len(path.parts) == 1:
        path = SHIPPED_MAPS / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in SHIPPED_MAPS.glob("*.yaml"))
        raise ClassMapError(f"{path}: class map not found (shipped maps: {shipped}; or give a path to a YAML file)")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ClassMapError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise ClassMapError(f"{path}: expected a mapping with 'classes'")
    return class_map_from_dict(values, str(path))

