"""Process-group set-up for ``torchrun`` (DDP / FSDP) and the few collectives the loop needs.

Launched without ``torchrun`` everything degrades to a single process: rank 0 of 1, and the reductions return their
input. ``torchrun``'s environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...) is all that
multi-node runs need: the rendezvous is torchrun's, not ours.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError

__all__ = ["DistInfo", "init_distributed", "pick_device", "is_main", "all_reduce_sum", "all_reduce_max", "barrier",
           "cleanup", "gather_objects", "fsdp_shard", "full_state_dict", "optimizer_state"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0  # global rank
    world_size: int = 1  # processes in the job
    local_rank: int = 0  # rank on this node (selects the GPU)
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def pick_device(requested: str, local_rank: int) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("train.device=cuda but no CUDA device is available")
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    return device


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when started by ``torchrun`` (nccl on GPU, gloo on CPU); else a one-process DistInfo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30),
                                device_id=dev if dev.type == "cuda" else None)
    return DistInfo(rank, world, local_rank, dev)


def is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def all_reduce_sum(*tensors: torch.Tensor) -> None:
    """Sum tensors across processes in place (no-op in a single process). NCCL reduces GPU tensors only, so CPU
    tensors take a round trip through the current GPU there."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        nccl = dist.get_backend() == "nccl"
        for t in tensors:
            if nccl and t.device.type != "cuda":
                on_gpu = t.cuda()
                dist.all_reduce(on_gpu, op=dist.ReduceOp.SUM)
                t.copy_(on_gpu.cpu())
            else:
                dist.all_reduce(t, op=dist.ReduceOp.SUM)


def all_reduce_max(value: int) -> int:
    """The largest ``value`` over all processes."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return value
    t = torch.tensor([value], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def broadcast_buffers(*modules: torch.nn.Module | None) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process, in place: each rank's training forwards
    moved its own statistics, and validation (each rank evaluates its share of the split) must use the statistics of
    the weights rank 0 saves. No-op in a single process."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return
    nccl = dist.get_backend() == "nccl"
    for module in modules:
        for buf in (module.buffers() if module is not None else ()):
            if nccl and buf.device.type != "cuda":
                on_gpu = buf.cuda()
                dist.broadcast(on_gpu, src=0)
                buf.copy_(on_gpu.cpu())
            else:
                dist.broadcast(buf, src=0)


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's ``obj``, in rank order (a one-item list in a single process)."""
    if not info.enabled:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


# -- FSDP2 -------------------------------------------------------------------------------------------------------------

def fsdp_shard(model: torch.nn.Module) -> None:
    """FSDP2: ``fully_shard`` each block group of ``model.group_matcher()``, then the root (in place: the parameters
    become sharded DTensors, so the optimiser is built after this)."""
    from torch.distributed.fsdp import fully_shard  # FSDP2 (torch >= 2.6)

    from .optim import block_modules

    for block in block_modules(model):
        fully_shard(block)
    fully_shard(model)


def full_state_dict(model: torch.nn.Module, sharded: bool) -> dict:
    """The model's whole state dict on the CPU; gathered from every rank when ``sharded`` (every rank calls it)."""
    if sharded:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, sharded: bool, state: dict | None = None):
    """Get (``state`` None) or set the optimiser state; with ``sharded`` (FSDP) the full state is gathered from /
    scattered to the shards (every rank calls it)."""
    if sharded:
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_optimizer_state_dict,
                                                             set_optimizer_state_dict)
        if state is None:
            return get_optimizer_state_dict(model, optimizer,
                                            options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True,
                                                                                   broadcast_from_rank0=False))
        return None
    if state is None:
        return optimizer.state_dict()
    optimizer.load_state_dict(state)
    return None
