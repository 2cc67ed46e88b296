"""Learning-rate schedules: the factor of train.lr as a function of training progress in [0, 1]."""

import math
from collections.abc import Callable

from pointseg.errors import ConfigError

SCHEDULERS = ("none", "cosine", "onecycle")


def lr_multiplier(name: str, warmup_fraction: float = 0.0) -> Callable[[float], float]:
    """progress (steps done / steps planned, or time spent / time budget) -> factor of the base lr.

    none: 1 (the paper's constant Adam lr). cosine: linear warm-up from 0 over `warmup_fraction` of
    training, then half a cosine down to 0. onecycle: warm-up from lr/25 to lr over `warmup_fraction`
    (0.3 when 0), then a cosine down to lr/1e4 (torch's OneCycleLR shape, without momentum cycling).
    """
    if name == "none":
        return lambda progress: 1.0
    if name not in SCHEDULERS:
        raise ConfigError(f"train.scheduler '{name}': expected one of {', '.join(SCHEDULERS)}")
    start, end = (0.0, 0.0) if name == "cosine" else (1 / 25, 1e-4)
    warm = warmup_fraction if warmup_fraction > 0 or name == "cosine" else 0.3

    def factor(progress: float) -> float:
        p = min(max(progress, 0.0), 1.0)
        if p < warm:
            return start + (1 - start) * p / warm
        t = (p - warm) / max(1e-12, 1 - warm)
        return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * t))

    return factor
