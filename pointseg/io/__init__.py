"""Reading and writing point clouds: STPLS3D text, PLY and LAS/LAZ behind one read_scene / write_labelled.

Modules: scene (the Scene and SceneBounds dataclasses), one reader/writer module per format (stpls3d,
ply, las), class_map (file class codes <-> classes), dispatch (the entry points, by suffix).
"""

from pointseg.io.atomic import atomic_path, atomic_save_npy, atomic_write_text
from pointseg.io.class_map import ClassMap, ClassMapError, load_class_map
from pointseg.io.dispatch import (
    OUTPUT_FORMATS,
    SCENE_SUFFIXES,
    WRITE_CLASS_MODES,
    probability_field,
    read_bounds,
    read_scene,
    write_labelled,
)
from pointseg.errors import PointCloudError
from pointseg.io.las import read_las, read_las_bounds
from pointseg.io.predictions import Prediction, is_prediction, output_format, output_path, read_prediction
from pointseg.io.ply import read_ply, write_ply
from pointseg.io.scene import Scene, SceneBounds, scene_name
from pointseg.io.stpls3d import read_stpls3d_txt, write_stpls3d_txt

__all__ = [
    "OUTPUT_FORMATS",
    "SCENE_SUFFIXES",
    "WRITE_CLASS_MODES",
    "ClassMap",
    "ClassMapError",
    "PointCloudError",
    "Prediction",
    "Scene",
    "SceneBounds",
    "atomic_path",
    "atomic_save_npy",
    "atomic_write_text",
    "is_prediction",
    "load_class_map",
    "output_format",
    "output_path",
    "probability_field",
    "read_bounds",
    "read_las",
    "read_las_bounds",
    "read_ply",
    "read_prediction",
    "read_scene",
    "read_stpls3d_txt",
    "scene_name",
    "write_labelled",
    "write_ply",
    "write_stpls3d_txt",
]
