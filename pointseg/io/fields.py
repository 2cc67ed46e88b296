"""The fields pointseg adds to a labelled file: their names in LAS and PLY, their types and descriptions.

One set of logical names, spelled per format:

| logical name      | LAS/LAZ extra dimension | PLY vertex property        | type    |
|-------------------|-------------------------|----------------------------|---------|
| predicted class   | `pred_class`            | `scalar_class`             | uint8   |
| confidence        | `confidence`            | `scalar_confidence`        | float32 |
| entropy           | `entropy`               | `scalar_entropy`           | float32 |
| class probability | `prob_<class>`          | `scalar_prob_<class>`      | float32 |
| input's classes   | `original_class`        | `scalar_original_class`    | uint8   |

PLY names start with `scalar_`: CloudCompare (which loads a PLY property as a scalar field only when its name
contains "scal", "intensity", "gray" or "grey", and strips the `scalar_` prefix) and Open3D's tensor reader (the
exact name) both pick them up without a dialog. CloudCompare matches colour and normal names first, so no name may
contain "red", "green", "blue", "nx", "ny" or "nz" (`scalar_pred_class` would be read as the red channel of a PLY
without rgb): hence `scalar_class`. Older outputs named them `class`, `confidence`, `entropy`; readers take both.
A PLY written from a LAS/LAZ input also carries `scalar_intensity` (int32: Open3D skips 16-bit properties),
`scalar_return_number`, `scalar_number_of_returns` and `scalar_original_class` (the input's classification codes).
"""

import numpy as np

from pointseg.constants import CLASS_NAMES

PLY_PREFIX = "scalar_"
LAS_DESCRIPTION_BYTES = 32  # LAS extra-bytes descriptions are char[32]
CLOUDCOMPARE_FIRST_MATCHES = ("red", "green", "blue", "nx", "ny", "nz")  # colour and normals, matched before "scal"

PRED_CLASS = "pred_class"
ORIGINAL_CLASS = "original_class"
LAS_FROM_SOURCE = ("intensity", "return_number", "number_of_returns")  # LAS dimensions a PLY of a LAS input carries
DESCRIPTIONS = {
    PRED_CLASS: "pointseg predicted class 0..14",
    "confidence": "max class probability 0..1",
    "entropy": "class entropy, nats, 0..ln 15",
    ORIGINAL_CLASS: "classification of the input",
    "intensity": "intensity of the input (LAS)",
    "return_number": "return number (LAS)",
    "number_of_returns": "number of returns (LAS)",
}


def probability_field(class_index: int) -> str:
    """The name of a class's probability field: 'prob_low_vegetation'."""
    return "prob_" + CLASS_NAMES[class_index].replace(" ", "_")


def description(name: str) -> str:
    """The <= 32-character description of one of pointseg's LAS extra dimensions ('' for another name)."""
    if name.startswith("prob_"):
        return "probability of " + name[5:].replace("_", " ")
    return DESCRIPTIONS.get(name, "")


def ply_name(name: str) -> str:
    """A field's PLY property name: 'pred_class' -> 'scalar_class', 'confidence' -> 'scalar_confidence'."""
    return PLY_PREFIX + ("class" if name == PRED_CLASS else name)


def unprefixed(ply_property: str) -> str:
    """A PLY property's name in lower case without CloudCompare's prefix, so old and new spellings meet:
    'scalar_class', 'Scalar_Class' and 'class' -> 'class'; 'scalar_confidence' -> 'confidence'."""
    name = ply_property.lower()
    return name[len(PLY_PREFIX):] if name.startswith(PLY_PREFIX) else name


def prediction_columns(labels: np.ndarray, confidence: np.ndarray, entropy: np.ndarray | None = None,
                       probabilities: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The prediction as fields by logical name, in the order they are written: pred_class (N,) uint8, confidence (N,)
    float32, entropy (N,) float32 when given, prob_<class> (N,) float32 per column of probabilities (N, C) when given."""
    columns = {PRED_CLASS: np.asarray(labels).astype(np.uint8), "confidence": np.asarray(confidence, np.float32)}
    if entropy is not None:
        columns["entropy"] = np.asarray(entropy, np.float32)
    if probabilities is not None:
        columns.update({probability_field(c): np.ascontiguousarray(probabilities[:, c], np.float32) for c in range(probabilities.shape[1])})
    return columns


def ply_field_comments(names: list[str]) -> list[str]:
    """PLY comment lines saying what each of pointseg's PLY properties holds (a PLY property has no description)."""
    return [f"field {ply_name(n)}: {description(n) or n.replace('_', ' ')}" for n in names]
