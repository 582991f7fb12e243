import torch
from torch import nn


class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain and no bias.

    Written out in plain tensor ops, not `torch.nn.RMSNorm`, so that every op on the way
    supports double backward, which energy descent needs.
    """

    def __init__(self, width: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (..., D)
        scale = torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return x * scale * self.weight
