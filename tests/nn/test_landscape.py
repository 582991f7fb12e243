import pytest
import torch

from ebtlab.nn import LandscapeEmbedding


def test_landscape_token_per_index():
    landscapes = LandscapeEmbedding(3, width=8)
    token = landscapes(2, batch_size=4)
    assert token.shape == (4, 1, 8)
    torch.testing.assert_close(token[3, 0], landscapes.embedding.weight[2])


def test_landscape_index_out_of_range():
    with pytest.raises(ValueError, match="landscape 3 out of range for 3 landscapes"):
        LandscapeEmbedding(3, width=8)(3, batch_size=1)
