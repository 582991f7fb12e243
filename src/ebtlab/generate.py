"""`ebtlab generate`: continue a prompt one unit at a time with an EBT or its baseline.

Both models keep a KV cache over the observed sequence, so each new unit costs only its own
work: the baseline runs one position through its blocks, and the EBT extends the prefix stream
of each landscape by one unit and then descends a single candidate, thinking as the run's
`thinking` config describes. With `cached=False` every unit recomputes the whole sequence instead,
which is the reference the cache is tested against.

When the sequence outgrows the model's context, it keeps its last half-context of units and
rebuilds the cache from them.
"""

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ebtlab.errors import ConfigError
from ebtlab.models import AutoregressiveTransformer, EnergyBasedTransformer, PredictionModel
from ebtlab.nn import KeysValuesCache
from ebtlab.run import load_model, next_run_dir

log = logging.getLogger(__name__)


@dataclass
class Generation:
    units: torch.Tensor  # (T,) the prompt followed by the new units
    new_units: int
    energies: list[float]  # EBT only: the final energy of each new unit's chosen candidate
    seconds: float

    @property
    def units_per_second(self) -> float:
        return self.new_units / self.seconds


class EnergyPredictor:
    """Next-unit predictions of an EBT: descent on one candidate over cached prefix streams."""

    def __init__(self, model: EnergyBasedTransformer, generator: torch.Generator, cached: bool):
        self.model, self.generator, self.cached = model, generator, cached
        steps = model.thinking_steps(model.thinking)
        self.landscapes = sorted({model.landscape_of_step(k) for k in range(steps)})
        self.prefixes: dict[int, KeysValuesCache] = {}

    def reset(self) -> None:
        self.prefixes = {}

    def predict(self, sequence: torch.Tensor, new: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Return the prediction (1, 1, C) of the unit after `sequence` and its final energy."""
        network = self.model.energy_network
        if self.cached:
            embedded = self.model.encoder(new)  # (1, S_new, D)
            self.prefixes = {landscape: network.observe(embedded, landscape, self.prefixes.get(landscape)) for landscape in self.landscapes}
        else:
            embedded = self.model.encoder(sequence)  # (1, T, D)
            self.prefixes = {landscape: network.observe(embedded, landscape) for landscape in self.landscapes}

        def energy(normalized: torch.Tensor, landscape: int) -> torch.Tensor:
            return network.candidate_energies(self.prefixes[landscape], self.model.candidate_space(normalized))  # (1, 1)

        # A target has the form of an observed unit, such as a token id (1, 1) or a frame (1, 1, C).
        # Only its shape is read.
        shape = torch.zeros_like(sequence[:, :1])
        best = self.model.think({"target": shape}, self.model.thinking, self.generator, energy)
        return best.candidates[-1], float(best.energies[-1])


class DirectPredictor:
    """Next-unit predictions of the autoregressive baseline from its head."""

    def __init__(self, model: AutoregressiveTransformer, cached: bool):
        self.model, self.cached = model, cached
        self.cache = KeysValuesCache()

    def reset(self) -> None:
        self.cache = KeysValuesCache()

    def predict(self, sequence: torch.Tensor, new: torch.Tensor) -> tuple[torch.Tensor, float]:
        prediction = self.model(new, self.cache) if self.cached else self.model(sequence)
        return prediction[:, -1:], float("nan")  # (1, 1, C)


def generate(
    model: PredictionModel,
    prompt: torch.Tensor,
    *,
    new_units: int,
    temperature: float,
    seed: int,
    cached: bool = True,
) -> Generation:
    """Continue `prompt` (S, ...) by `new_units` units; greedy when `temperature` is 0."""
    if new_units < 1:
        raise ConfigError(f"--max-new-units must be at least 1, got {new_units}")
    if temperature < 0:
        raise ConfigError(f"--temperature must be >= 0, got {temperature}")
    generator = torch.Generator(device=model.device).manual_seed(seed)
    if isinstance(model, EnergyBasedTransformer):
        predictor = EnergyPredictor(model, generator, cached)
    else:
        predictor = DirectPredictor(model, cached)
    context = model.modality.context_length

    sequence = prompt.to(model.device)[None][:, -context:]  # (1, T, ...)
    new = sequence
    generated, energies = [], []
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(new_units):
            prediction, energy = predictor.predict(sequence, new)
            new = model.modality.choose_units(prediction, temperature=temperature, generator=generator)  # (1, 1, ...)
            generated.append(new[0])
            energies.append(energy)
            sequence = torch.cat((sequence, new), dim=1)
            if sequence.shape[1] > context:
                sequence = sequence[:, -(context // 2) :]
                new = sequence
                predictor.reset()
    seconds = time.perf_counter() - start
    units = torch.cat((prompt, *(unit.cpu() for unit in generated)))
    return Generation(units=units, new_units=new_units, energies=energies if isinstance(model, EnergyBasedTransformer) else [], seconds=seconds)


def generate_from_checkpoint(
    checkpoint: Path, prompt: str, overrides: list[str], *, new_units: int, temperature: float, cached: bool
) -> tuple[Path, dict]:
    """Load a checkpoint, continue `prompt`, and write generate.json and the modality's files; return the folder and report.

    The report's "rendered" entry is the modality's readable form of the prompt and new units
    (the text itself for text), and "files" lists what the modality wrote, such as a WAV file.
    """
    model, config = load_model(checkpoint, overrides)
    prompt_units = model.modality.prompt_units(prompt)
    generation = generate(model, prompt_units, new_units=new_units, temperature=temperature, seed=config.seed, cached=cached)
    report = {
        "checkpoint": str(checkpoint),
        "architecture": config.model.architecture,
        "prompt": prompt,
        "rendered": model.modality.render_units(generation.units),
        "new_units": generation.new_units,
        "temperature": temperature,
        "cached": cached,
        "seconds": round(generation.seconds, 3),
        "units_per_second": generation.units_per_second,
        "energies": generation.energies,
    }
    run_dir = next_run_dir(Path(config.runs_dir), "generate")
    run_dir.mkdir(parents=True)
    report["files"] = [path.name for path in model.modality.write_units(generation.units, run_dir)]
    (run_dir / "generate.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return run_dir, report
