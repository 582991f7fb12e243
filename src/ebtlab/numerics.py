"""Stopping a training run at the first NaN or Inf, before the optimizer step it would corrupt.

The training step records 0-dim boolean tensors ("is this finite?") without reading them,
so the check adds no device synchronisation inside the descent. `NonFiniteCheck` reads them all at once,
one device synchronisation per optimizer step, after the backward pass and before the
optimizer updates any weight.
"""

import lightning as L
import torch

from ebtlab.descent import DescentResult
from ebtlab.errors import EbtlabError


class NumericalError(EbtlabError):
    """A NaN or Inf in training: the message names the step and what went non-finite."""


def finite_flags(loss: torch.Tensor, result: DescentResult, step_size: torch.Tensor) -> dict[str, torch.Tensor]:
    """Return a 0-dim boolean tensor per checked quantity, true where all its values are finite.

    The candidate after step k is p_k - step_size * dE/dp_k with p_k a normalized candidate,
    so with a finite step size it is finite exactly when the energy gradient is.
    """
    flags = {"step size": torch.isfinite(step_size).all()}
    for k, (energy, candidate) in enumerate(zip(result.energies, result.candidates), start=1):
        flags[f"energy at descent step {k}"] = torch.isfinite(energy).all()
        flags[f"energy gradient at descent step {k}"] = torch.isfinite(candidate.detach()).all()
    flags["loss"] = torch.isfinite(loss.detach())
    return flags


class NonFiniteCheck(L.Callback):
    """Raise `NumericalError` when the training step's flags or the parameter gradients are not finite.

    A LightningModule may store the flags of `finite_flags` as its `finite_flags` attribute in
    each training step. The parameter gradients are checked for every module. Raising stops the run before the optimizer step, and no checkpoint is written on the
    way out, so the last checkpoint stays the last good one.
    """

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        flags = dict(getattr(pl_module, "finite_flags", {}))
        gradients = [parameter.grad for parameter in pl_module.parameters() if parameter.grad is not None]
        flags["parameter gradients"] = torch.isfinite(torch.nn.utils.get_total_norm(gradients))
        all_finite = bool(torch.stack(list(flags.values())).all())
        # Every process must stop together, or the others would wait forever in the next all-reduce.
        if trainer.strategy.reduce_boolean_decision(all_finite, all=True):
            return

        failed = [name for name, flag in flags.items() if not bool(flag)] or ["a value on another process"]
        message = f"training step {trainer.global_step + 1}: NaN or Inf in the {', '.join(failed)}"
        last = getattr(trainer.checkpoint_callback, "last_model_path", "")
        if last:
            message += f"; the last good checkpoint is {last}"
        raise NumericalError(f"{message}; lower optim.lr or ebt.step_size and start a new run")
