"""The data module shape every adapter shares: named splits, a resumable training order, loaders."""

import lightning as L
from torch.utils.data import DataLoader, Dataset

from ebtlab.errors import DataError
from ebtlab.sampler import ResumableBatchSampler


class SplitDataModule(L.LightningDataModule):
    """Loaders over the "train", "validation" and "test" datasets of a modality.

    Training batches follow `ResumableBatchSampler`, so a resumed run continues the same order
    from `start_batch`. Validation and test batches keep the dataset order.
    """

    def __init__(self, datasets: dict[str, Dataset], *, batch_size: int, num_workers: int, seed: int, start_batch: int = 0):
        super().__init__()
        self.datasets = datasets
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.start_batch = start_batch

    def _dataset(self, split: str) -> Dataset:
        if split not in self.datasets:
            raise DataError(f"the data has no {split} split")
        return self.datasets[split]

    def train_dataloader(self) -> DataLoader:
        dataset = self._dataset("train")
        batches = ResumableBatchSampler(len(dataset), self.batch_size, seed=self.seed, start_batch=self.start_batch)
        return DataLoader(dataset, batch_sampler=batches, num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._dataset("validation"), batch_size=self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self._dataset("test"), batch_size=self.batch_size, num_workers=self.num_workers)
