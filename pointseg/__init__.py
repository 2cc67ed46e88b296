"""pointseg: semantic segmentation of aerial photogrammetry point clouds with a sparse 3D U-Net."""

__version__ = "0.1.0"
