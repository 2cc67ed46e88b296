"""Labelling whole scenes: a checkpoint as a probability function (predictor), patch batches built on the device
(batches), votes stitched onto every point (stitch), test-time views (views), files in and files out (label),
tiled coverages with buffers (coverage), metrics files (metrics_files) and re-scoring saved predictions (evaluate).

    from pointseg.predict.label import label_scenes
"""
