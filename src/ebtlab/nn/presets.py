from dataclasses import dataclass


@dataclass(frozen=True)
class SizePreset:
    layers: int
    width: int
    heads: int


# Model sizes of the published EBT experiments (layers / width / heads).
SIZE_PRESETS: dict[str, SizePreset] = {
    "4xs": SizePreset(layers=2, width=128, heads=2),
    "3xs": SizePreset(layers=4, width=256, heads=4),
    "xxs": SizePreset(layers=6, width=384, heads=6),
    "xs": SizePreset(layers=12, width=384, heads=6),
    "small": SizePreset(layers=12, width=768, heads=12),
    "medium": SizePreset(layers=24, width=1024, heads=16),
    "large": SizePreset(layers=24, width=1536, heads=16),
    "xl": SizePreset(layers=24, width=2048, heads=32),
}


def size_preset(name: str) -> SizePreset:
    """Look up a size preset by name."""
    if name not in SIZE_PRESETS:
        raise KeyError(f"unknown size preset {name!r}; known presets: {', '.join(SIZE_PRESETS)}")
    return SIZE_PRESETS[name]
