"""DataLoader set-up that is fast on small CPU machines and reproducible: one torch thread per worker, persistent
workers, and an epoch-aware sampler whose indices carry the epoch into the workers (so per-item random draws depend
on (seed, epoch, index) even with persistent workers, which keep their own dataset copies)."""
from __future__ import annotations

import torch

__all__ = ["EpochSampler", "make_loader", "average_views", "first_good_sample"]


def first_good_sample(dataset, index: int, load, errors: tuple, what: str, log):
    """``(i, load(i))`` for the first sample ``i`` from ``index`` on (wrapping around) that loads without one of
    ``errors``; None when none does. The ``--skip-bad`` mechanism of every training dataset: without
    ``dataset.skip_bad`` the first error is raised; with it, a bad sample is counted once in
    ``dataset.num_skipped`` (its index kept in ``dataset._bad``), logged on ``log`` as ``skipping WHAT (N so far):
    ERROR``, and the next one served."""
    n = len(dataset.samples)
    for attempt in range(n):
        i = (index + attempt) % n
        try:
            return i, load(i)
        except errors as e:
            if not dataset.skip_bad:
                raise
            if i not in dataset._bad:
                dataset._bad.add(i)
                dataset.num_skipped += 1
                log.warning("skipping %s (%d so far): %s", what, dataset.num_skipped, e)
    return None


class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(epoch, index)`` pairs: a permutation seeded by (seed, epoch) when ``shuffle``, else in order.
    Call :meth:`set_epoch` before each epoch.

    Distributed: rank ``r`` of ``n`` takes every n-th item of the permutation. Training shards are cut to equal
    length (the permutation's tail is dropped, so every rank runs the same number of steps); evaluation shards
    cover every item exactly once (lengths may differ by one).
    ``set_epoch(epoch, start=k)`` skips this rank's first ``k`` items: a resumed run continues mid-epoch exactly
    where the interrupted one stopped.
    """

    def __init__(self, length: int, shuffle: bool, seed: int = 0, num_replicas: int = 1, rank: int = 0,
                 equal_shards: bool | None = None):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside [0, {num_replicas})")
        self.length, self.shuffle, self.seed, self.epoch, self.start = length, shuffle, seed, 0, 0
        self.num_replicas, self.rank = num_replicas, rank
        self.equal_shards = shuffle if equal_shards is None else equal_shards

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        if self.equal_shards:
            order = order[:self.length // self.num_replicas * self.num_replicas]
        return order[self.rank::self.num_replicas][self.start:]

    def __len__(self) -> int:
        return len(self._indices())

    def __iter__(self):
        return iter([(self.epoch, i) for i in self._indices()])


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)  # small per-clip ops pay OpenMP wake-ups with more threads


def make_loader(dataset, batch_size: int, *, train: bool, num_workers: int = 2, seed: int = 0,
                pin_memory: bool | None = None, num_replicas: int = 1, rank: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader over a ``VideoDataset`` with an :class:`EpochSampler` (``loader.sampler.set_epoch(e)``).

    The loader has its own seeded generator, so creating its iterator never draws from the global torch RNG (a
    resumed run then sees the same dropout / drop-path draws as an uninterrupted one)."""
    sampler = EpochSampler(len(dataset), shuffle=train, seed=seed, num_replicas=num_replicas, rank=rank)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, drop_last=train,
        worker_init_fn=_worker_init if num_workers > 0 else None, persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        generator=torch.Generator().manual_seed(seed))


def average_views(logits: torch.Tensor, num_views: int, mode: str = "prob") -> torch.Tensor:
    """``(B*V, K)`` -> ``(B, K)``: mean of per-view softmax (``prob``: Video Swin / MMAction2; sum-of-softmax UniFormerV2
    ranks the same), or mean of raw logits (``logits``: UniFormer's sum of logits ranks the same)."""
    x = logits.view(-1, num_views, logits.shape[-1])
    if mode == "prob":
        return x.softmax(-1).mean(1)
    if mode == "logits":
        return x.mean(1)
    raise ValueError(f"mode must be 'prob' or 'logits', got {mode!r}")
