"""Energy minimisation: the one descent loop shared by training, evaluation and every modality.

Notation: B batch, S predictions per sequence, C candidate width, K descent steps.
"""

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from ebtlab.nn.attention import second_order_attention

# energy_fn(normalized candidate (B, S, C), landscape index) -> energies (B, S)
EnergyFn = Callable[[torch.Tensor, int], torch.Tensor]
# normalize(candidate (B, S, C)) -> normalized candidate (B, S, C), e.g. a softmax over categories
NormalizeFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class DescentPlan:
    """The schedule of one descent: the landscape of each step and how gradients flow."""

    landscapes: Sequence[int]  # landscape index of each step, so K = len(landscapes)
    detach_between_steps: bool  # cut the graph between steps: each step's loss trains only that step
    second_order: bool  # build the graph of dE/dp so a loss on the result can train the energy

    def __post_init__(self):
        if len(self.landscapes) < 1:
            raise ValueError("a descent needs at least one step")


@dataclass
class DescentResult:
    candidates: list[torch.Tensor]  # y_1 .. y_K, each (B, S, C)
    energies: list[torch.Tensor]  # E(x, p_0) .. E(x, p_K-1), each (B, S), detached


def descend(
    energy_fn: EnergyFn,
    initial: torch.Tensor,
    normalize: NormalizeFn,
    step_size: torch.Tensor | float,
    plan: DescentPlan,
) -> DescentResult:
    """Minimise the energy over the candidate by K gradient steps.

    Each step k computes p_k = normalize(y_k), the energy E_k = energy_fn(p_k, landscape_k),
    and the update y_k+1 = p_k - step_size * dE_k/dp_k. The gradient is taken with respect
    to the normalized candidate p_k: for a categorical candidate that is the softmax
    probabilities, and the result becomes the next logits.

    Gradient flow:
    - with `second_order`, dE/dp is taken with `create_graph=True` (attention on its math
      backend), so a loss on any y_k backpropagates through the update into the energy
      network and the step size;
    - without it the update runs without a graph and every returned candidate is detached,
      which is what evaluation wants;
    - with `detach_between_steps`, each step starts from a detached y_k, so the loss on y_k+1
      trains step k alone. Without it, gradients flow back through all earlier steps.

    Gradients are enabled inside the loop even under `torch.no_grad()`, since descent needs
    dE/dp at inference too.
    """
    y = initial
    candidates, energies = [], []
    attention_context = second_order_attention if plan.second_order else nullcontext
    for landscape in plan.landscapes:
        if plan.detach_between_steps or not plan.second_order:
            y = y.detach()
        with torch.enable_grad(), attention_context():
            if not y.requires_grad:
                y.requires_grad_(True)
            # Normalizing a view keeps p a non-leaf even when `normalize` is the identity, because
            # torch's FlopCounterMode (used to count training cost) fails on autograd.grad with
            # respect to a leaf tensor.
            p = normalize(y.view_as(y))
            energy = energy_fn(p, landscape)  # (B, S)
            (gradient,) = torch.autograd.grad(energy.sum(), p, create_graph=plan.second_order)
        if plan.second_order:
            y = p - step_size * gradient
        else:
            with torch.no_grad():
                y = p - step_size * gradient
        candidates.append(y)
        energies.append(energy.detach())
    return DescentResult(candidates=candidates, energies=energies)
