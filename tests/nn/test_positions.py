import math

import pytest
import torch

from ebtlab.nn.positions import sincos_embedding, sincos_positions


def test_one_axis_matches_formula():
    positions = sincos_positions((5,), 8)
    assert positions.shape == (5, 8)
    for p in range(5):
        for i in range(4):
            angle = p / 10_000 ** (i / 4)
            assert positions[p, i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert positions[p, 4 + i].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_two_axes_split_channels_by_row_and_column():
    positions = sincos_positions((3, 4), 16)  # raster order: unit 4 * row + column
    rows, columns = sincos_positions((3,), 8), sincos_positions((4,), 8)
    for row in range(3):
        for column in range(4):
            torch.testing.assert_close(positions[4 * row + column, :8], rows[row])
            torch.testing.assert_close(positions[4 * row + column, 8:], columns[column])


def test_every_unit_gets_its_own_position():
    positions = sincos_positions((7, 7), 128)
    assert torch.cdist(positions, positions).add(torch.eye(49)).min() > 0.1


def test_embedding_accepts_any_values():
    values = torch.tensor([[0.0], [2.5]])
    torch.testing.assert_close(sincos_embedding(values, 4)[1], torch.tensor([math.sin(2.5), math.sin(0.025), math.cos(2.5), math.cos(0.025)]))


@pytest.mark.parametrize("grid, width, message", [((4, 4), 6, "divisible by 4"), ((0,), 8, "positive size"), ((), 8, "at least one axis")])
def test_rejects_bad_grid_or_width(grid, width, message):
    with pytest.raises(ValueError, match=message):
        sincos_positions(grid, width)
