"""The modality adapter contract and the registry that finds adapters by name.

A modality adapter provides everything in the generic models that depends on the kind of
data. That is how observed units become embeddings, what a candidate is, the task loss and
metrics, how to show a prediction to a person, and the data itself. The models never branch on a
modality's name. Adapters are found through the `ebtlab.modalities` entry-point group, so a
third-party package registers one exactly the way the shipped ones do:

    [options.entry_points]
    ebtlab.modalities =
        mymodality = my_package:MyModality

Notation: B batch, S units per sequence, D model width, C candidate width.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from torch import nn

ENTRY_POINT_GROUP = "ebtlab.modalities"


class CandidateSpace(nn.Module, ABC):
    """The space of candidate predictions: their initial values, normalization and embedding."""

    @abstractmethod
    def initial(self, target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw initial candidates y_0 (B, S, C) for a batch whose targets are `target`."""

    @abstractmethod
    def normalize(self, candidate: torch.Tensor) -> torch.Tensor:
        """Map a raw candidate y (B, S, C) to the point p (B, S, C) where the energy is evaluated."""

    @abstractmethod
    def forward(self, normalized: torch.Tensor) -> torch.Tensor:
        """Embed normalized candidates (B, S, C) as (B, S, D)."""


class Modality(ABC):
    """Everything the generic models need to know about one kind of data.

    Batches are dicts with "observed" (the S observed units) and "target" (unit i + 1 for
    each position i). An instance first builds its data-derived state (a tokenizer, say)
    with `prepare`, after which every other method may be used. The `data` section of
    the config is validated against `config_class`; `__init__` should reject impossible
    values with `ebtlab.errors.ConfigError`.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]  # dataclass of the config's `data` section
    # True where observed units and candidates are the same continuous vectors (B, S, C), such as
    # image patches, so that whole sequences can be noised and denoised.
    continuous_units: ClassVar[bool] = False

    def __init__(self, config: Any):
        self.config = config

    @abstractmethod
    def prepare(self, state: dict | None = None) -> None:
        """Load the data and build the data-derived state, or restore that state from `state`.

        Raise `ebtlab.errors.DataError` for data that cannot be used.
        """

    def save(self, run_dir: Path) -> None:
        """Write files a person or another tool may want from the run folder, such as a tokenizer."""

    @abstractmethod
    def state_dict(self) -> dict:
        """Return the data-derived state as plain data (strings, numbers, lists) for checkpoints."""

    @property
    @abstractmethod
    def context_length(self) -> int:
        """Units per training sequence (S)."""

    @property
    def unit_grid(self) -> tuple[int, ...]:
        """Arrangement of the units of one whole sequence, such as (rows, columns) of image patches.

        A whole sequence has S + 1 units: the first observed unit followed by the S targets.
        Bidirectional models give each unit a fixed position on this grid. The default is one axis.
        """
        return (self.context_length + 1,)

    @abstractmethod
    def datamodule(self, *, seed: int, start_batch: int = 0) -> L.LightningDataModule:
        """Return the data module over this modality's real data.

        Its training loader should draw batches with `ebtlab.sampler.ResumableBatchSampler`,
        so that a run resumed after `start_batch` training batches continues the same order.
        """

    @abstractmethod
    def build_encoder(self, width: int) -> nn.Module:
        """Return the module that embeds observed units as (B, S, D)."""

    @abstractmethod
    def build_candidate_space(self, width: int) -> CandidateSpace:
        """Return the candidate space at model width D."""

    def build_prediction_head(self, width: int) -> nn.Module | None:
        """Return the autoregressive baseline's direct head from hidden states (B, S, D) to (B, S, C).

        Its output is scored by `loss` and `metrics` exactly like a final EBT candidate, so the
        baseline and the EBT are measured the same way. An adapter without one returns None, and
        then only EBTs can be trained on it.
        """
        return None

    @abstractmethod
    def scored_mask(self, target: torch.Tensor) -> torch.Tensor:
        """Return the boolean (B, S) mask of the positions that count in losses and metrics."""

    @abstractmethod
    def loss(self, candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the task loss between candidates (B, S, C) and targets, a mean over scored positions."""

    def unit_losses(self, candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the task loss of every prediction (B, S), for energy-as-confidence reports.

        Its mean over the scored positions must equal `loss`. Adapters without it cannot be
        used by `ebtlab think`.
        """
        raise NotImplementedError(f"modality {self.name!r} does not provide per-prediction losses")

    def evaluation_sets(self) -> dict[str, Iterable[dict]]:
        """Return named evaluation batches: the in-distribution validation split first, then shifted sets.

        `ebtlab think` measures how thinking helps on each. The default is the validation split alone.
        """
        return {"validation": self.datamodule(seed=0).val_dataloader()}

    def prompt_units(self, prompt: str) -> torch.Tensor:
        """Turn a prompt given on the command line into observed units (S, ...) for generation."""
        raise NotImplementedError(f"modality {self.name!r} does not take prompts for generation")

    def choose_units(self, prediction: torch.Tensor, *, temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """Turn final predictions (B, S, C) into observed units (B, S, ...) to continue a sequence.

        `temperature` 0 selects the most likely unit; above 0 draws a sample at that temperature.
        """
        raise NotImplementedError(f"modality {self.name!r} does not support generation")

    def render_units(self, units: torch.Tensor) -> str:
        """Return observed units (S, ...) in a form a person can read, such as decoded text."""
        raise NotImplementedError(f"modality {self.name!r} does not render units")

    def write_units(self, units: torch.Tensor, folder: Path) -> list[Path]:
        """Write observed units (S, ...) into `folder` as files a person can open, such as a WAV file.

        `ebtlab generate` calls it with the prompt and the generated units. Return the files
        written; the default writes none.
        """
        return []

    def metrics(self, candidate: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return extra per-batch metrics of the final candidates, each a mean over scored positions."""
        return {}

    def summary_metrics(self, loss: float) -> dict[str, float]:
        """Return metrics derived from a mean loss over a whole evaluation, such as perplexity."""
        return {}

    def reference_losses(self, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return the losses of simple reference predictors on these targets, means over scored positions."""
        return {}

    def describe(self, observed: torch.Tensor, candidate: torch.Tensor) -> str:
        """Return a human-readable view of one sequence and its predictions for the logs."""
        return ""

    def render(self, observed: torch.Tensor, target: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor | None:
        """Draw a batch's first sequences and their predictions (B, S, C) as one RGB image (3, H, W) in [0, 1].

        The models log it to TensorBoard and write it as a PNG file in the run folder. An adapter
        whose units are not pictures returns None.
        """
        return None

    def render_sound(self, observed: torch.Tensor, target: torch.Tensor, prediction: torch.Tensor) -> tuple[torch.Tensor, int] | None:
        """Turn a batch's first sequence and its predictions (B, S, C) into a mono waveform (T,) in [-1, 1] and its sample rate.

        The models log it to TensorBoard and write it as a WAV file in the run folder. An adapter
        whose units cannot be heard returns None.
        """
        return None

    def render_sequences(self, rows: list[torch.Tensor]) -> torch.Tensor | None:
        """Draw whole sequences of units (N, S + 1, C) as one RGB image (3, H, W) in [0, 1], one row per tensor.

        Denoising models use it to show noisy, denoised and clean sequences. An adapter whose
        units are not pictures returns None.
        """
        return None


class UnknownModalityError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def registered_modalities() -> dict[str, Any]:
    """Return the entry points of every installed modality adapter, by name."""
    return {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}


def load_modality(name: str) -> type[Modality]:
    """Load the adapter class registered under `name`."""
    registered = registered_modalities()
    if name not in registered:
        known = ", ".join(sorted(registered)) or "none (is ebtlab installed with `pip install -e .`?)"
        raise UnknownModalityError(f"unknown modality {name!r}; registered modalities: {known}")
    adapter = registered[name].load()
    if not (isinstance(adapter, type) and issubclass(adapter, Modality)):
        raise TypeError(f"entry point {name!r} in group {ENTRY_POINT_GROUP} is not a Modality subclass")
    return adapter
