import pytest
import torch

from ebtlab.errors import DataError
from ebtlab.sampler import ResumableBatchSampler


def epochs_of(sampler: ResumableBatchSampler, epochs: int) -> list[list[list[int]]]:
    return [list(sampler) for _ in range(epochs)]


def test_each_epoch_is_a_new_permutation():
    first, second = epochs_of(ResumableBatchSampler(10, 3, seed=0), 2)
    assert len(first) == 3  # 10 items: three batches of 3, the last item dropped
    assert all(len(batch) == 3 for batch in first)
    assert len({index for batch in first for index in batch}) == 9
    assert first != second


def test_order_depends_only_on_seed():
    assert epochs_of(ResumableBatchSampler(10, 3, seed=1), 2) == epochs_of(ResumableBatchSampler(10, 3, seed=1), 2)
    assert epochs_of(ResumableBatchSampler(10, 3, seed=1), 1) != epochs_of(ResumableBatchSampler(10, 3, seed=2), 1)


@pytest.mark.parametrize("start_batch", [0, 1, 3, 4, 8])
def test_start_batch_continues_uninterrupted_order(start_batch):
    uninterrupted = [batch for epoch in epochs_of(ResumableBatchSampler(13, 3, seed=5), 4) for batch in epoch]
    resumed_sampler = ResumableBatchSampler(13, 3, seed=5, start_batch=start_batch)
    resumed = [batch for epoch in epochs_of(resumed_sampler, 4 - start_batch // 4) for batch in epoch]
    assert resumed == uninterrupted[start_batch:]


def test_processes_share_each_global_batch(monkeypatch):
    single = list(ResumableBatchSampler(20, 4, seed=0))
    shares = []
    for rank in (0, 1):
        monkeypatch.setattr("ebtlab.sampler.process_group", lambda rank=rank: (rank, 2))
        shares.append(list(ResumableBatchSampler(20, 2, seed=0)))
    assert len(shares[0]) == len(single) == 5
    for global_batch, first, second in zip(single, shares[0], shares[1]):
        assert first + second == global_batch


def test_negative_start_batch_rejected():
    with pytest.raises(ValueError, match="start_batch must be >= 0"):
        ResumableBatchSampler(10, 2, seed=0, start_batch=-1)


def test_too_few_items_for_global_batch(monkeypatch):
    monkeypatch.setattr("ebtlab.sampler.process_group", lambda: (0, 2))
    with pytest.raises(DataError, match="has 3 sequences, fewer than one global batch of 2 processes x data.batch_size=2"):
        iter(ResumableBatchSampler(3, 2, seed=0))
