import math

import torch

from ebtlab.nn import RotaryEmbedding


def test_rotary_rotates_pairs_by_position_angle():
    rotary = RotaryEmbedding(head_width=4, max_positions=8, base=10_000.0)
    x = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 1, 4)
    rotated = rotary(x, torch.tensor([3]))
    # The first pair (components 0 and 2) turns by 3 radians at frequency 1.
    expected = torch.tensor([math.cos(3.0), 0.0, math.sin(3.0), 0.0])
    torch.testing.assert_close(rotated.view(4), expected)

def test_rotary_scores_depend_on_offset_only():
    rotary = RotaryEmbedding(head_width=8, max_positions=32)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(i, j):
        return (rotary(q, torch.tensor([i])) * rotary(k, torch.tensor([j]))).sum()

    torch.testing.assert_close(score(5, 2), score(20, 17))
