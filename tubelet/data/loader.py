"""DataLoader set-up that is fast on small CPU machines and reproducible: one torch thread per worker, persistent
workers, and an epoch-aware sampler whose indices carry the epoch into the workers (so per-item random draws depend
on (seed, epoch, index) even with persistent workers, which keep their own dataset copies)."""
from __future__ import annotations

import torch

__all__ = ["EpochSampler", "make_loader", "split_views", "average_views"]


class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(epoch, index)`` pairs: a permutation seeded by (seed, epoch) when ``shuffle``, else in order.
    Call :meth:`set_epoch` before each epoch."""

    def __init__(self, length: int, shuffle: bool, seed: int = 0):
        self.length, self.shuffle, self.seed, self.epoch = length, shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = range(self.length)
        return iter([(self.epoch, i) for i in order])


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)  # small per-clip ops pay OpenMP wake-ups with more threads (DEPS.md)


def make_loader(dataset, batch_size: int, *, train: bool, num_workers: int = 2, seed: int = 0,
                pin_memory: bool | None = None) -> torch.utils.data.DataLoader:
    """A DataLoader over a ``VideoDataset`` with an :class:`EpochSampler` (``loader.sampler.set_epoch(e)``)."""
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, drop_last=train,
        worker_init_fn=_worker_init if num_workers > 0 else None, persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory)


def split_views(views: torch.Tensor, max_views: int):
    """``(B, V, C, T, H, W)`` multi-view batch -> chunks of at most ``max_views`` clips ``(n, C, T, H, W)``, so a
    12-view test batch never needs 12x the activation memory at once."""
    flat = views.flatten(0, 1)
    return flat.split(max_views)


def average_views(logits: torch.Tensor, num_views: int, mode: str = "prob") -> torch.Tensor:
    """``(B*V, K)`` -> ``(B, K)``: mean of per-view softmax (``prob``: Video Swin / MMAction2; sum-of-softmax UniFormerV2
    ranks the same), or mean of raw logits (``logits``: UniFormer's sum of logits ranks the same)."""
    x = logits.view(-1, num_views, logits.shape[-1])
    if mode == "prob":
        return x.softmax(-1).mean(1)
    if mode == "logits":
        return x.mean(1)
    raise ValueError(f"mode must be 'prob' or 'logits', got {mode!r}")
