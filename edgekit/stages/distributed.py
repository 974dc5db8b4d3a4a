"""Data-parallel helpers: torchrun environment, process group, rank-0-only writes."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """True in a single process and on rank 0 of a torchrun job: the only process that writes files."""
    return rank() == 0


def init() -> bool:
    """Join the torchrun process group (gloo on CPU, nccl on GPU); False when not under torchrun."""
    if world_size() <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":  # one GPU per rank
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return True


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast_state(model: torch.nn.Module) -> None:
    """Make every rank start from rank 0's weights."""
    if active():
        for tensor in model.state_dict().values():
            dist.broadcast(tensor, src=0)


def shard(indices: list[int]) -> list[int]:
    """This rank's contiguous slice of a global batch (equal slices; the global batch is divisible)."""
    if not active():
        return indices
    size, me = dist.get_world_size(), dist.get_rank()
    per = len(indices) // size
    return indices[me * per:(me + 1) * per]


def all_reduce_sum(values: list[float]) -> list[float]:
    if not active():
        return values
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()
