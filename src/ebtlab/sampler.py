"""The training data order: shuffled global batches that a resumed run continues mid-epoch.

Epoch e visits the items in the order of the (e + 1)-th permutation drawn from a generator
seeded with the run's seed, and no other random generator is touched. The order depends only
on the seed and the number of batches already trained. A run resumed at global step g
therefore trains on exactly the batches that an uninterrupted run trains on after step g.

Under distributed training each global batch is cut into one contiguous slice per process,
so W processes with batch size B train on the same items per step as one process with
batch size W * B.
"""

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from ebtlab.errors import DataError


def process_group() -> tuple[int, int]:
    """Return (rank, world size) of this process, or (0, 1) outside distributed training."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class ResumableBatchSampler(Sampler[list[int]]):
    """Yield this process's share of shuffled global batches, starting at `start_batch`.

    Each `iter()` call is one epoch, as in a DataLoader iterated once per epoch. The first
    call resumes the epoch that contains global batch `start_batch`. The last incomplete
    global batch of every epoch is dropped.
    """

    def __init__(self, length: int, batch_size: int, *, seed: int, start_batch: int = 0):
        if start_batch < 0:
            raise ValueError(f"start_batch must be >= 0, got {start_batch}")
        super().__init__()
        self.length = length
        self.batch_size = batch_size
        self.seed = seed
        self.start_batch = start_batch
        self.generator: torch.Generator | None = None
        self.epoch = 0

    def __len__(self) -> int:
        _, world_size = process_group()
        return self.length // (self.batch_size * world_size)

    def _next_order(self) -> torch.Tensor:
        return torch.randperm(self.length, generator=self.generator)

    def __iter__(self) -> Iterator[list[int]]:
        rank, world_size = process_group()
        batches_per_epoch = len(self)
        if batches_per_epoch == 0:
            raise DataError(
                f"the training split has {self.length} sequences, fewer than one global batch of {world_size} "
                f"processes x data.batch_size={self.batch_size}"
            )

        skip = 0
        if self.generator is None:
            # First epoch of this sampler: replay the permutations of the epochs already trained.
            self.generator = torch.Generator().manual_seed(self.seed)
            self.epoch, skip = divmod(self.start_batch, batches_per_epoch)
            for _ in range(self.epoch):
                self._next_order()
        else:
            self.epoch += 1

        global_batch = self.batch_size * world_size
        order = self._next_order()[: batches_per_epoch * global_batch]
        shares = order.view(batches_per_epoch, world_size, self.batch_size)[:, rank]  # (batches, B)
        return iter(shares[skip:].tolist())
