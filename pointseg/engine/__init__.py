"""Training and inference engines: distributed setup, checkpoints, the train loop, whole-scene inference."""
