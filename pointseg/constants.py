"""The one source of truth for STPLS3D classes, the ignore label and the class palette."""

import numpy as np

IGNORE_LABEL: int = -100

CLASS_NAMES: tuple[str, ...] = (
    "ground",
    "building",
    "low vegetation",
    "medium vegetation",
    "high vegetation",
    "vehicle",
    "truck",
    "aircraft",
    "military vehicle",
    "bike",
    "motorcycle",
    "light pole",
    "street sign",
    "clutter",
    "fence",
)
NUM_CLASSES: int = len(CLASS_NAMES)

# RGB (uint8) per class for --colorize views; distinct hues, ground grey-brown.
CLASS_PALETTE: np.ndarray = np.array(
    [
        [150, 130, 110],  # ground
        [220, 60, 50],  # building
        [170, 230, 120],  # low vegetation
        [80, 180, 60],  # medium vegetation
        [20, 110, 30],  # high vegetation
        [40, 90, 230],  # vehicle
        [250, 160, 30],  # truck
        [240, 240, 240],  # aircraft
        [110, 110, 40],  # military vehicle
        [250, 80, 200],  # bike
        [150, 50, 220],  # motorcycle
        [250, 240, 60],  # light pole
        [0, 220, 220],  # street sign
        [120, 70, 40],  # clutter
        [255, 140, 140],  # fence
    ],
    dtype=np.uint8,
)
