import torch

from ebtlab.nn import RMSNorm


def test_rms_norm_unit_rms():
    x = torch.randn(3, 5, 16) * 7.0
    y = RMSNorm(16, eps=0.0)(x)
    torch.testing.assert_close(y.pow(2).mean(dim=-1), torch.ones(3, 5))
