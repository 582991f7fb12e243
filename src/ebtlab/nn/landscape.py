import torch
from torch import nn


class LandscapeEmbedding(nn.Module):
    """One learned token per energy landscape, prepended to the sequence.

    A landscape is the energy function used at one descent step. With one landscape per
    step the model can shape each step's energy differently. With one shared landscape
    every step descends the same energy.
    """

    def __init__(self, landscapes: int, width: int):
        super().__init__()
        self.landscapes = landscapes
        self.embedding = nn.Embedding(landscapes, width)

    def forward(self, landscape: int, batch_size: int) -> torch.Tensor:
        if not 0 <= landscape < self.landscapes:
            raise ValueError(f"landscape {landscape} out of range for {self.landscapes} landscapes")
        return self.embedding.weight[landscape].expand(batch_size, 1, -1)  # (B, 1, D)
