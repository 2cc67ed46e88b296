"""Synthetic STPLS3D-format scenes: city layout and materials (layout), objects and photogrammetric sampling (city), file writers (files)."""
