"""Reading and writing point clouds: STPLS3D text files and PLY, arrays in, arrays out."""

from pointseg.io.atomic import atomic_path, atomic_save_npy, atomic_write_text
from pointseg.io.errors import PointCloudError
from pointseg.io.ply import read_ply, write_ply
from pointseg.io.scene import Scene, read_scene, scene_name
from pointseg.io.stpls3d import read_stpls3d_txt, write_stpls3d_txt

__all__ = [
    "PointCloudError",
    "Scene",
    "atomic_path",
    "atomic_save_npy",
    "atomic_write_text",
    "read_ply",
    "read_scene",
    "read_stpls3d_txt",
    "scene_name",
    "write_ply",
    "write_stpls3d_txt",
]
