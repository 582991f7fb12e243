import math

# The published EBT recipe decays every learning rate to a tenth of its own peak.
FINAL_LR_RATIO = 0.1


def warmup_cosine(step: int, *, warmup_steps: int, total_steps: int, final_ratio: float = FINAL_LR_RATIO) -> float:
    """Return the learning-rate factor at `step`: linear warm-up to 1, then cosine decay to `final_ratio`.

    The factor multiplies each parameter group's own peak rate, so every group decays to
    `final_ratio` of its peak.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
