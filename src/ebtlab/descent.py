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
    """The schedule of one descent: the landscape of each step, gradient flow, noise and acceptance."""

    landscapes: Sequence[int]  # landscape index of each step, so K = len(landscapes)
    detach_between_steps: bool  # cut the graph between steps: each step's loss trains only that step
    second_order: bool  # build the graph of dE/dp so a loss on the result can train the energy
    second_order_last_step_only: bool = False  # truncate: earlier steps take dE/dp without a graph
    noise_std: float = 0.0  # std of the Langevin noise added by every update but the last
    accept_lower: bool = False  # keep a step only where it lowers that prediction's energy
    final_energy: bool = False  # also evaluate E at the final candidate y_K

    def __post_init__(self):
        if len(self.landscapes) < 1:
            raise ValueError("a descent needs at least one step")
        if self.noise_std < 0:
            raise ValueError(f"Langevin noise std must be >= 0, got {self.noise_std}")


@dataclass
class DescentResult:
    candidates: list[torch.Tensor]  # y_1 .. y_K, each (B, S, C)
    energies: list[torch.Tensor]  # E(x, p_0) .. E(x, p_K-1), each (B, S), detached
    final_energies: torch.Tensor | None = None  # E(x, p_K) (B, S) under the last step's landscape, detached


def descend(
    energy_fn: EnergyFn,
    initial: torch.Tensor,
    normalize: NormalizeFn,
    step_size: torch.Tensor | float,
    plan: DescentPlan,
    generator: torch.Generator | None = None,
) -> DescentResult:
    """Minimise the energy over the candidate by K gradient steps.

    Each step k computes p_k = normalize(y_k), the energy E_k = energy_fn(p_k, landscape_k),
    and the update y_k+1 = p_k - step_size * dE_k/dp_k. The gradient is taken with respect
    to the normalized candidate p_k: for a categorical candidate that is the softmax
    probabilities, and the result becomes the next logits. `step_size` is a scalar or a
    tensor that broadcasts against (B, S, C), such as one step size per prediction (B, S, 1).

    Gradient flow:
    - with `second_order`, dE/dp is taken with `create_graph=True` (attention on its math
      backend), so a loss on any y_k backpropagates through the update into the energy
      network and the step size. With `second_order_last_step_only`, only the last step
      builds that graph; earlier steps still pass gradients through p_k unless detached;
    - without it the update runs without a graph and every returned candidate is detached,
      which is what evaluation wants;
    - with `detach_between_steps`, each step starts from a detached y_k, so the loss on y_k+1
      trains step k alone. Without it, gradients flow back through all earlier steps.

    Langevin noise: with `noise_std`, every update but the last adds noise_std * N(0, 1)
    (drawn from `generator`), so each recorded energy belongs to the recorded candidate and the
    final candidate is the result of a clean step.

    Accept-lower: where a step raised a prediction's energy, that prediction goes back to the
    point it came from (its candidate, energy and gradient), so no prediction's energy ever
    rises. A step's energy is known when the next step evaluates it, and for the last step
    only with `final_energy`, which `accept_lower` therefore requires. NOTE: with one
    landscape per step, the energies compared come from two different landscapes.

    Gradients are enabled inside the loop even under `torch.no_grad()`, since descent needs
    dE/dp at inference too.
    """
    if plan.accept_lower and not plan.final_energy:
        raise ValueError("accept_lower needs final_energy to judge the last step")
    y = initial
    candidates, energies = [], []
    accepted: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # (y, p, E, dE/dp)
    last = len(plan.landscapes) - 1
    for k, landscape in enumerate(plan.landscapes):
        second_order = plan.second_order and (k == last or not plan.second_order_last_step_only)
        if plan.detach_between_steps or not plan.second_order:
            y = y.detach()
        with torch.enable_grad(), second_order_attention() if second_order else nullcontext():
            if not y.requires_grad:
                y.requires_grad_(True)
            # Normalizing a view keeps p a non-leaf even when `normalize` is the identity, because
            # torch's FlopCounterMode (used to count training cost) fails on autograd.grad with
            # respect to a leaf tensor.
            p = normalize(y.view_as(y))
            energy = energy_fn(p, landscape)  # (B, S)
            (gradient,) = torch.autograd.grad(energy.sum(), p, create_graph=second_order)
        if plan.accept_lower and accepted is not None:
            y, p, energy, gradient = _keep_lower(accepted, (y, p, energy, gradient))
            candidates[-1] = y
        accepted = (y, p, energy, gradient)
        if plan.second_order:
            y = p - step_size * gradient
        else:
            with torch.no_grad():
                y = p - step_size * gradient
        if plan.noise_std > 0 and k < last:
            y = y + plan.noise_std * torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
        candidates.append(y)
        energies.append(energy.detach())

    final_energies = None
    if plan.final_energy:
        with torch.no_grad():
            p = normalize(y)
            final = energy_fn(p, plan.landscapes[-1])  # (B, S)
        if plan.accept_lower:
            y, _, final, _ = _keep_lower(accepted, (y, p, final, accepted[3]))
            candidates[-1] = y
        final_energies = final.detach()
    return DescentResult(candidates=candidates, energies=energies, final_energies=final_energies)


def _keep_lower(
    previous: tuple[torch.Tensor, ...], proposed: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per prediction, keep the proposed (y, p, E, dE/dp) where E did not rise, else the previous one."""
    rose = proposed[2] > previous[2]  # (B, S)
    y, p, energy, gradient = (
        torch.where(rose.unsqueeze(-1) if new.dim() > rose.dim() else rose, old, new) for old, new in zip(previous, proposed)
    )
    return y, p, energy, gradient
