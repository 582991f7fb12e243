"""Energy networks: plain `nn.Module`s that map (context, candidate) to one energy per prediction."""

from ebtlab.energy.autoregressive import AutoregressiveEnergyTransformer
from ebtlab.energy.bidirectional import BidirectionalEnergyTransformer

__all__ = ["AutoregressiveEnergyTransformer", "BidirectionalEnergyTransformer"]
