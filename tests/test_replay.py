import pytest
import torch

from ebtlab.replay import ReplayBuffer


def batch_of(rows: int, start: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ids = torch.arange(start, start + rows)
    return ids[:, None].expand(rows, 3).clone(), ids[:, None].expand(rows, 3).clone(), ids[:, None, None].expand(rows, 3, 2).float()


def test_buffer_stays_within_capacity():
    buffer = ReplayBuffer(5)
    for start in range(0, 12, 3):
        buffer.add(*batch_of(3, start))
        assert len(buffer) <= 5
    assert all(tensor.shape[0] == 5 for tensor in buffer.rows.values())
    stored = sorted(int(row) for row in buffer.rows["target"][:, 0])
    assert stored == [7, 8, 9, 10, 11]


def test_batch_larger_than_capacity_keeps_newest():
    buffer = ReplayBuffer(2)
    buffer.add(*batch_of(4, 0))
    assert sorted(int(row) for row in buffer.rows["target"][:, 0]) == [2, 3]


def test_sample_returns_stored_rows_exactly():
    buffer = ReplayBuffer(4)
    observed, target, candidate = batch_of(3, 10)
    candidate = candidate + torch.randn_like(candidate)
    buffer.add(observed, target, candidate)
    sample = buffer.sample(8, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert sample["target"].shape[0] == 3
    for row in range(3):
        original = int(sample["target"][row, 0]) - 10
        assert torch.equal(sample["candidate"][row], candidate[original])
        assert torch.equal(sample["observed"][row], observed[original])


def test_state_round_trip_restores_rows():
    buffer = ReplayBuffer(4)
    buffer.add(*batch_of(3, 0))
    buffer.add(*batch_of(2, 3))
    restored = ReplayBuffer(4)
    restored.load_state_dict(buffer.state_dict())
    assert (restored.size, restored.next_row) == (buffer.size, buffer.next_row)
    for name in buffer.rows:
        assert torch.equal(restored.rows[name], buffer.rows[name])
    first = buffer.sample(2, torch.device("cpu"), torch.Generator().manual_seed(3))
    second = restored.sample(2, torch.device("cpu"), torch.Generator().manual_seed(3))
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_state_capacity_mismatch_rejected():
    buffer = ReplayBuffer(4)
    buffer.add(*batch_of(1, 0))
    with pytest.raises(ValueError, match="capacity 4, this buffer 3"):
        ReplayBuffer(3).load_state_dict(buffer.state_dict())
