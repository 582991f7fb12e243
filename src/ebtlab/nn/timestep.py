import torch
from torch import nn

from ebtlab.nn.positions import sincos_embedding


class TimestepEmbedding(nn.Module):
    """Embed diffusion timesteps (B,) as condition vectors (B, D): sine-cosine features, then a SiLU MLP (as in DiT)."""

    def __init__(self, width: int):
        super().__init__()
        self.width = width
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        # timesteps: (B,) integer steps of the noise schedule
        return self.mlp(sincos_embedding(timesteps[:, None], self.width))  # (B, D)
