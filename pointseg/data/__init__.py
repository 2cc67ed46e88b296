"""Tiling, voxelization, splits, patch datasets, augmentation and synthetic scenes."""
