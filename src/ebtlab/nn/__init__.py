"""Building blocks shared by every model: norms, rotary positions, SwiGLU, attention, blocks."""

from ebtlab.nn.attention import Attention, causal_attention, masked_attention, second_order_attention
from ebtlab.nn.causal_transformer import CausalTransformer, KeysValuesCache
from ebtlab.nn.landscape import LandscapeEmbedding
from ebtlab.nn.norm import RMSNorm
from ebtlab.nn.presets import SIZE_PRESETS, SizePreset, size_preset
from ebtlab.nn.rotary import RotaryEmbedding
from ebtlab.nn.swiglu import SwiGLU
from ebtlab.nn.transformer import TransformerBlock

__all__ = [
    "Attention",
    "CausalTransformer",
    "KeysValuesCache",
    "LandscapeEmbedding",
    "RMSNorm",
    "RotaryEmbedding",
    "SIZE_PRESETS",
    "SizePreset",
    "SwiGLU",
    "TransformerBlock",
    "causal_attention",
    "masked_attention",
    "second_order_attention",
    "size_preset",
]
