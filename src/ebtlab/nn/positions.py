"""Fixed sine-cosine position embeddings for units laid out on a 1-D or 2-D grid.

Notation: P units, D model width. A grid of shape (rows, columns) gives each unit, in raster
order, its row and column index. Each grid axis gets an equal share of the D channels, half
sines and half cosines of the index at geometrically spaced frequencies, as in the
Transformer's original positions and their 2-D form in MAE and DiT.
"""

import math

import torch

# Maximum wavelength of the frequencies, in units of the grid index.
MAX_WAVELENGTH = 10_000.0


def sincos_embedding(values: torch.Tensor, width: int) -> torch.Tensor:
    """Embed N points of A coordinates each (N, A) as (N, D): sines and cosines of each coordinate."""
    axes = values.shape[1]
    if width % (2 * axes):
        raise ValueError(f"width {width} must be divisible by {2 * axes} for sine-cosine embeddings of {axes} coordinates")
    channels = width // (2 * axes)  # frequencies per coordinate
    frequencies = MAX_WAVELENGTH ** (-torch.arange(channels, dtype=torch.float64, device=values.device) / channels)
    angles = values.double()[:, :, None] * frequencies  # (N, A, D / 2A)
    embedding = torch.cat((angles.sin(), angles.cos()), dim=-1)  # (N, A, D / A)
    return embedding.reshape(values.shape[0], width).float()  # (N, D)


def sincos_positions(grid: tuple[int, ...], width: int) -> torch.Tensor:
    """Return the fixed position embeddings (P, D) of the P = prod(grid) units of `grid`, in raster order."""
    if len(grid) < 1 or any(size < 1 for size in grid):
        raise ValueError(f"a unit grid needs at least one axis of positive size, got {grid}")
    indices = torch.cartesian_prod(*(torch.arange(size) for size in grid))  # (P, A), or (P,) for one axis
    return sincos_embedding(indices.reshape(math.prod(grid), len(grid)), width)  # (P, D)
