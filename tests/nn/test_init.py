import torch
from torch import nn

from ebtlab.nn.init import initialize_weights


def test_initialize_weights_std_and_zero_bias():
    module = nn.Sequential(nn.Linear(200, 300), nn.Embedding(500, 40))
    initialize_weights(module, std=0.02)
    assert abs(module[0].weight.std().item() - 0.02) < 1e-3
    assert torch.all(module[0].bias == 0)
    assert abs(module[1].weight.std().item() - 0.02) < 1e-3
