"""Pictures instead of tables: maps of labelled scenes, plots of the scores, training curves, report.html.

cloud       reading prediction files and labelled scenes (LabelledCloud)
colours     per-point colourings (classes, ground truth, errors, confidence, rgb) and legends
topdown     orthographic z-buffer rasterization (top-down: the highest point per pixel wins; oblique)
offscreen   Open3D's offscreen perspective view, where it works
pictures    maps with legend panels, written as PNG per scene
plots       confusion matrix, per-class IoU, training curves (matplotlib, Agg)
report      the self-contained report.html
run         all of it for a labelling or evaluation run
tensorboard per-class IoU and confusion-matrix images at each validation
files       atomic PNG/HTML writes that never replace a file pointseg did not write
"""
