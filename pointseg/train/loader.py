"""Data loaders of the training loop: shuffled training patches per rank, each evaluation patch exactly once."""

import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler, SequentialSampler

from pointseg.config import Config
from pointseg.data.dataset import PatchDataset
from pointseg.data.features import collate
from pointseg.distributed import DistInfo


class ShardSampler(Sampler[int]):
    """Rank r of w takes indices r, r + w, ...: every sample exactly once over all ranks (no padding,
    unlike DistributedSampler, so validation counts no point twice)."""

    def __init__(self, n: int, rank: int, world: int):
        self.indices = list(range(rank, n, world))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def make_loader(ds: PatchDataset, batch: int, cfg: Config, dist_info: DistInfo, train: bool) -> DataLoader:
    """Training: shuffled (per rank when distributed); evaluation: each patch once over all ranks.

    The training order is a function of (train.seed, epoch) alone, on one process or many (the sampler's
    set_epoch): a resumed run draws the same patch order as an uncut one. The loader has its own
    generator, so starting its iterator draws nothing from torch's global RNG."""
    if train:
        sampler = DistributedSampler(ds, dist_info.world_size, dist_info.rank, shuffle=True, seed=cfg.train.seed)
    elif dist_info.distributed:
        sampler = ShardSampler(len(ds), dist_info.rank, dist_info.world_size)
    else:
        sampler = SequentialSampler(ds)
    workers = cfg.train.num_workers
    return DataLoader(
        ds, batch_size=batch, sampler=sampler, collate_fn=collate, num_workers=workers, generator=torch.Generator().manual_seed(cfg.train.seed),
        pin_memory=dist_info.device.type == "cuda", drop_last=train and len(ds) >= batch,
        # persistent: the dataset's epoch (augmentation draws) reaches the workers through shared memory
        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
    )
