import pytest
import torch

from ebtlab.descent import DescentResult
from ebtlab.thinking import BestOfN, state_energies


def descent_with(candidates: list[float], energies: list[float]) -> DescentResult:
    """A one-prediction descent: candidates y_1.., energies E(y_0)..E(y_K) as given."""
    return DescentResult(
        candidates=[torch.full((1, 1, 1), value) for value in candidates],
        energies=[torch.full((1, 1), value) for value in energies[:-1]],
        final_energies=torch.full((1, 1), energies[-1]),
    )


def test_state_energies_need_final_energy():
    result = descent_with([1.0], [3.0, 2.0])
    assert [float(energy) for energy in state_energies(result)] == [3.0, 2.0]
    result.final_energies = None
    with pytest.raises(ValueError, match="did not evaluate the energy of its final candidate"):
        state_energies(result)


def test_best_of_n_picks_lowest_energy_per_position():
    generator = torch.Generator().manual_seed(0)
    B, S, C, N = 3, 5, 4, 6
    runs = []
    best = BestOfN("lowest_energy")
    for _ in range(N):
        candidate = torch.randn(B, S, C, generator=generator)
        energy = candidate.pow(2).sum(-1)  # a constructed energy: squared norm of the candidate
        result = DescentResult(candidates=[candidate], energies=[torch.zeros(B, S)], final_energies=energy)
        runs.append(result)
        best.add(result)
    energies = torch.stack([run.final_energies for run in runs])  # (N, B, S)
    winner = energies.argmin(dim=0)  # (B, S)
    candidates = torch.stack([run.candidates[0] for run in runs])  # (N, B, S, C)
    expected = candidates.gather(0, winner[None, :, :, None].expand(1, B, S, C))[0]
    torch.testing.assert_close(best.candidates[0], expected, rtol=0, atol=0)
    torch.testing.assert_close(best.energies[0], energies.min(dim=0).values, rtol=0, atol=0)


def test_best_of_n_selects_per_step():
    best = BestOfN("lowest_energy")
    best.add(descent_with([1.0, 2.0], [9.0, 5.0, 1.0]))
    best.add(descent_with([3.0, 4.0], [9.0, 4.0, 2.0]))
    assert [float(candidate) for candidate in best.candidates] == [3.0, 2.0]
    assert [float(energy) for energy in best.energies] == [4.0, 1.0]


def test_largest_drop_selection():
    best = BestOfN("largest_drop")
    best.add(descent_with([1.0], [2.0, 1.0]))  # drop 1 to a lower energy
    best.add(descent_with([2.0], [9.0, 3.0]))  # drop 6 to a higher energy
    assert float(best.candidates[0]) == 2.0
    assert float(best.energies[0]) == 3.0


def test_ties_keep_first_candidate():
    best = BestOfN("lowest_energy")
    best.add(descent_with([1.0], [2.0, 1.0]))
    best.add(descent_with([2.0], [2.0, 1.0]))
    assert float(best.candidates[0]) == 1.0
