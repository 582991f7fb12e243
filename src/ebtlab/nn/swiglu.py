from torch import nn
from torch.nn import functional as F


class SwiGLU(nn.Module):
    """Gated feed-forward layer: W2 (silu(W1 x) * W3 x), no biases."""

    def __init__(self, width: int, hidden_width: int | None = None):
        super().__init__()
        hidden_width = hidden_width or width
        self.gate = nn.Linear(width, hidden_width, bias=False)
        self.up = nn.Linear(width, hidden_width, bias=False)
        self.down = nn.Linear(hidden_width, width, bias=False)

    def forward(self, x):
        # x: (..., D)
        return self.down(F.silu(self.gate(x)) * self.up(x))
