"""Process-group setup for torchrun (NCCL on GPUs, gloo on CPU), device choice, and small collective helpers."""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from pointseg.errors import EnvironmentProblem, InputError


@dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """'auto' takes CUDA when present; 'cuda' without a GPU is an error."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise EnvironmentProblem("--device cuda: no CUDA device is visible")
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise InputError(f"device '{name}': expected auto, cuda or cpu")
    return torch.device("cpu")


def setup_distributed(device_name: str = "auto") -> DistInfo:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); init the process group when world > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local_rank)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank, device)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_objects(obj: Any) -> list[Any]:
    """[obj of rank 0, obj of rank 1, ...] on every rank (picklable objects); [obj] without a process group."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def gather_or_raise(result: Any, error: Exception | None, rank: int) -> list[Any]:
    """Every rank's `result`, in rank order, after a step each rank did on its own share. A rank that failed
    (`error`) hands its failure to the others so none waits for ever in a later collective: it raises its own
    error, the others a RuntimeError naming it (as a message: errors naming a file do not always pickle). A collective."""
    gathered = all_gather_objects((result, None if error is None else (rank, str(error))))
    if error is not None:
        raise error
    failed = next((f for _, f in gathered if f is not None), None)
    if failed is not None:
        raise RuntimeError(f"stopped: rank {failed[0]} failed: {failed[1]}")
    return [r for r, _ in gathered]


def shard_largest_first(sizes: Sequence[float], world: int, rank: int) -> list[int]:
    """Indices of the items that `rank` of `world` takes, largest first.

    Items go in order of decreasing size (ties: by index) each to the rank with the least total so far
    (ties: the lowest rank), so the ranks finish close together; every rank computes the same split.
    """
    load, share = [0.0] * world, [[] for _ in range(world)]
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        r = min(range(world), key=lambda r: (load[r], r))
        share[r].append(i)
        load[r] += sizes[i]
    return share[rank]


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
