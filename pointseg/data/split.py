"""Train/validation splits of the training scenes' patches: the paper's random split, and a leak-free one."""


import numpy as np

TRAIN, VAL, EXCLUDED = "train", "val", "excluded"


def split_random(n_patches: int, val_fraction: float, seed: int) -> list[str]:
    """The paper's split: a seeded random val_fraction of all patches (overlapping patches leak across it)."""
    rng = np.random.default_rng(seed)
    n_val = int(round(val_fraction * n_patches))
    is_val = np.zeros(n_patches, bool)
    is_val[rng.permutation(n_patches)[:n_val]] = True
    return [VAL if v else TRAIN for v in is_val]


def split_leak_free(scene_of_patch: list[str], bounds: np.ndarray, block: float, val_fraction: float, seed: int) -> list[str]:
    """Validation as whole square blocks of side `block`, drawn at random (seeded) over all scenes.

    A patch inside a validation block is `val`; a patch that touches no validation block is `train`;
    a patch that straddles both is `excluded`, so no training point lies in a validation patch.
    bounds (P, 4): xmin, ymin, xmax, ymax of each patch.
    """
    eps = 1e-6 * block
    lo = np.floor((bounds[:, :2] + eps) / block).astype(np.int64)
    hi = np.ceil((bounds[:, 2:] - eps) / block).astype(np.int64) - 1  # last block touched
    blocks = sorted({(s, int(a), int(b)) for s, (a, b) in zip(scene_of_patch, lo)})
    rng = np.random.default_rng(seed)
    n_val = min(len(blocks) - 1, max(1, int(round(val_fraction * len(blocks))))) if len(blocks) > 1 else 0
    val_blocks = {blocks[i] for i in rng.permutation(len(blocks))[:n_val]}
    out = []
    for s, (ax, ay), (bx, by) in zip(scene_of_patch, lo, hi):
        touched = {(s, i, j) for i in range(ax, bx + 1) for j in range(ay, by + 1)}
        n_val_touched = len(touched & val_blocks)
        if n_val_touched == 0:
            out.append(TRAIN)
        elif n_val_touched == len(touched) == 1:
            out.append(VAL)
        else:
            out.append(EXCLUDED)
    return out
