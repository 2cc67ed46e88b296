"""Training: the loop (loop.train, Trainer), hooks around it (progress, metrics log, checkpoints, curves), the run
folder and its resume rules (run_dir), loaders, RNG states and learning-rate schedules.

    from pointseg.train.loop import train
"""
