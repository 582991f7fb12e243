import torch
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain, or none with `gain=False`, and no bias.

    Written out in plain tensor ops, not `torch.nn.RMSNorm`, so that every op on the way
    supports double backward, which energy descent needs. Blocks that scale and shift the
    normalized input themselves (adaLN) use it without a gain.
    """

    def __init__(self, width: int, eps: float = 1e-6, *, gain: bool = True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width)) if gain else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., D)
        normalized = x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return normalized if self.weight is None else normalized * self.weight
