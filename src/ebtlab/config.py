"""Typed run configuration, loaded strictly from YAML plus `key=value` overrides.

One dataclass per concern; each component receives only its own section. The `data`
section belongs to the modality adapter, whose `config_class` validates it.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ebtlab.energy.autoregressive import AttentionMode
from ebtlab.errors import ConfigError, first_line
from ebtlab.modality import Modality, load_modality, registered_modalities
from ebtlab.nn.presets import SIZE_PRESETS, SizePreset

# The default main job; a link to the experiment config it runs.
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"


@dataclass
class ModelConfig:
    # "ebt" and its autoregressive Transformer++ baseline "transformer" predict the next unit;
    # "denoising_ebt" and its diffusion baseline "diffusion" denoise whole sequences.
    architecture: str = "ebt"
    size: str = "4xs"  # a size preset; layers, width and heads below override its fields
    layers: int | None = None
    width: int | None = None
    heads: int | None = None
    attention: AttentionMode = "two_part"  # EBT only; "masked" is the slower single-call reference

    def shape(self) -> SizePreset:
        """Return the preset named by `size` with any explicit overrides applied."""
        if self.size not in SIZE_PRESETS:
            raise ConfigError(f"model.size: unknown size preset {self.size!r}; known presets: {', '.join(SIZE_PRESETS)}")
        preset = SIZE_PRESETS[self.size]
        return SizePreset(
            layers=self.layers or preset.layers,
            width=self.width or preset.width,
            heads=self.heads or preset.heads,
        )


@dataclass
class EBTConfig:
    descent_steps: int = 2  # steps in evaluation, and the most steps in training
    min_training_descent_steps: int | None = None  # if set, each training batch draws K from [this, descent_steps]
    landscapes: Literal["per_step", "shared"] = "per_step"
    step_size: float = 500.0
    step_size_learnable: bool = True
    step_size_lr_multiplier: float = 1500.0  # learning rate of the step size over the base rate
    random_step_size: bool = False  # in training, draw each prediction's step size from [step_size/2, 2*step_size]
    detach_between_steps: bool = True
    second_order_last_step_only: bool = False  # build the second-order graph only for the last step
    langevin_noise_std: float = 0.0  # noise added to the candidate by every training update but the last
    replay_buffer_rows: int = 0  # rows of final candidates kept on the CPU to restart from; 0 turns it off
    replay_share: float = 0.5  # replayed rows added to each training batch, as a share of the batch size
    loss_over_steps: Literal["mean", "last"] = "mean"


@dataclass
class ThinkingConfig:
    """Inference settings of an EBT, used in evaluation, `think` and `generate`."""

    descent_steps: int | None = None  # None: the trained model's ebt.descent_steps
    step_size: float | None = None  # None: the model's step size
    candidates: int = 1  # N descents from different random starts per prediction
    selection: Literal["lowest_energy", "largest_drop"] = "lowest_energy"  # how the best of N is chosen
    accept_lower: bool = False  # keep a descent step only where it lowers the energy
    langevin_noise_std: float = 0.0


@dataclass
class DenoisingConfig:
    """The denoising task of the architectures denoising_ebt and diffusion.

    A noise level is a fraction of the 1000-step linear variance schedule of DDPM: level 0.1
    adds Gaussian noise of std about 0.32 to units scaled to [-1, 1].
    """

    noise_level: float = 0.1  # the level both models train at
    evaluation_noise_levels: list[float] | None = None  # None: the training level and twice it
    sampling_steps: int | None = None  # DDIM updates of the diffusion baseline; None: every schedule step

    def evaluation_levels(self) -> list[float]:
        """Return the noise levels evaluated, the training level first."""
        if self.evaluation_noise_levels is None:
            return [self.noise_level, 2 * self.noise_level]
        return list(dict.fromkeys([self.noise_level, *self.evaluation_noise_levels]))


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 30


@dataclass
class TrainerConfig:
    max_steps: int = 300
    val_every_n_steps: int = 100
    limit_val_batches: int | None = None  # None: the whole validation split
    log_every_n_steps: int = 10
    accelerator: str = "auto"
    devices: int | str = "auto"
    strategy: str = "auto"  # a Lightning strategy name, such as "ddp" for one process per device
    inference_mode: bool = False  # must stay false for energy models, whose evaluation needs gradients


@dataclass
class RunConfig:
    modality: str = MISSING  # name of a registered modality adapter
    experiment: str = "ebt"
    seed: int = 0
    runs_dir: str = "runs"
    model: ModelConfig = field(default_factory=ModelConfig)
    ebt: EBTConfig = field(default_factory=EBTConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    thinking: ThinkingConfig = field(default_factory=ThinkingConfig)
    denoising: DenoisingConfig = field(default_factory=DenoisingConfig)
    data: Any = field(default_factory=dict)  # validated by the modality's config_class


def _merge_strict(schema: Any, values: Any, section: str) -> Any:
    """Merge plain `values` into a structured `schema`, turning OmegaConf errors into one line."""
    try:
        return OmegaConf.merge(schema, values)
    except OmegaConfBaseException as error:
        key = getattr(error, "full_key", None) or section
        if section and key and not key.startswith(section):
            key = f"{section}.{key}"
        reason = first_line(error)
        if "is not a ListConfig" in reason:
            reason = f"expected a list, such as {key}=[first,second]"
        raise ConfigError(f"invalid config at {key}: {reason}") from None


def read_yaml(path: Path) -> dict:
    """Read a YAML mapping from `path`."""
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"config path {path} is not a file")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())
        raise ConfigError(f"config file {path} is not valid YAML: {reason}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not {type(values).__name__}")
    return values


def parse_overrides(overrides: list[str]) -> dict:
    """Parse `key=value` overrides (dotted keys, YAML values) into a nested mapping."""
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ConfigError(f"override {item!r} is not of the form key=value")
    try:
        return OmegaConf.to_container(OmegaConf.from_dotlist(overrides))
    except OmegaConfBaseException as error:
        raise ConfigError(f"invalid override: {first_line(error)}") from None
    except yaml.YAMLError as error:
        reason = " ".join(str(error).split())
        raise ConfigError(f"invalid override: the value is not valid YAML: {reason}") from None


def _reject_interpolations(values: Any, key: str = "") -> None:
    """Reject OmegaConf interpolations, so a config, also one stored in a checkpoint, stays plain data."""
    if isinstance(values, dict):
        for name, value in values.items():
            _reject_interpolations(value, f"{key}.{name}" if key else str(name))
    elif isinstance(values, list):
        for index, value in enumerate(values):
            _reject_interpolations(value, f"{key}[{index}]")
    elif isinstance(values, str) and "${" in values:
        raise ConfigError(f"invalid config at {key}: {values!r} is an interpolation (${{...}}), which ebtlab does not resolve")


def build_config(values: dict) -> tuple[RunConfig, type[Modality]]:
    """Validate plain config values into a RunConfig whose `data` is the modality's config."""
    _reject_interpolations(values)
    merged = _merge_strict(OmegaConf.structured(RunConfig), values, "")
    if OmegaConf.is_missing(merged, "modality"):
        known = ", ".join(sorted(registered_modalities()))
        raise ConfigError(f"missing config key modality; set it to a registered modality: {known}")
    try:
        modality = load_modality(merged.modality)
    except KeyError as error:
        raise ConfigError(f"modality: {error}") from None
    data = _merge_strict(OmegaConf.structured(modality.config_class), merged.data, "data")
    merged.data = {}
    config: RunConfig = OmegaConf.to_object(merged)
    config.data = OmegaConf.to_object(data)
    check_values(config)
    return config, modality


def load_config(path: Path | None, overrides: list[str]) -> tuple[RunConfig, type[Modality]]:
    """Load a YAML config file (the default main job when `path` is None) and apply overrides."""
    values = read_yaml(path or DEFAULT_CONFIG)
    values = OmegaConf.to_container(OmegaConf.merge(values, parse_overrides(overrides)))
    return build_config(values)


def to_plain(config: RunConfig) -> dict:
    """Return the config as plain nested dicts, for YAML files and checkpoints."""
    return OmegaConf.to_container(OmegaConf.structured(config))


def to_yaml(config: RunConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(config))


def _require(condition: bool, key: str, value: Any, expected: str) -> None:
    if not condition:
        raise ConfigError(f"invalid value for {key}: {value!r} ({expected})")


def check_values(config: RunConfig) -> None:
    """Reject values that parse but cannot work, naming the key."""
    from ebtlab.models import ARCHITECTURES  # imported here because the models import this module

    _require(config.model.architecture in ARCHITECTURES, "model.architecture", config.model.architecture, f"known architectures: {', '.join(ARCHITECTURES)}")
    shape = config.model.shape()
    for key in ("layers", "width", "heads"):
        value = getattr(config.model, key)
        _require(value is None or value > 0, f"model.{key}", value, "expected a positive integer")
    _require(shape.width % shape.heads == 0, "model.width", shape.width, f"must be divisible by {shape.heads} heads")
    _require((shape.width // shape.heads) % 2 == 0, "model.heads", shape.heads, "head width must be even for rotary positions")
    _require(config.ebt.descent_steps > 0, "ebt.descent_steps", config.ebt.descent_steps, "expected at least 1")
    _require(config.ebt.step_size > 0, "ebt.step_size", config.ebt.step_size, "expected a positive step size")
    _require(config.ebt.step_size_lr_multiplier >= 0, "ebt.step_size_lr_multiplier", config.ebt.step_size_lr_multiplier, "expected >= 0")
    minimum = config.ebt.min_training_descent_steps
    _require(
        minimum is None or 1 <= minimum <= config.ebt.descent_steps,
        "ebt.min_training_descent_steps",
        minimum,
        f"expected null or 1..ebt.descent_steps={config.ebt.descent_steps}",
    )
    _require(config.ebt.langevin_noise_std >= 0, "ebt.langevin_noise_std", config.ebt.langevin_noise_std, "expected >= 0")
    _require(config.ebt.replay_buffer_rows >= 0, "ebt.replay_buffer_rows", config.ebt.replay_buffer_rows, "expected >= 0")
    _require(0 < config.ebt.replay_share <= 1, "ebt.replay_share", config.ebt.replay_share, "expected a share in (0, 1]")
    _require(not (config.ebt.random_step_size and config.ebt.step_size_learnable), "ebt.random_step_size", True, "a random step size cannot also be learnable; set ebt.step_size_learnable=false")
    thinking = config.thinking
    _require(thinking.descent_steps is None or thinking.descent_steps > 0, "thinking.descent_steps", thinking.descent_steps, "expected null or at least 1")
    _require(thinking.step_size is None or thinking.step_size > 0, "thinking.step_size", thinking.step_size, "expected null or a positive step size")
    _require(thinking.candidates > 0, "thinking.candidates", thinking.candidates, "expected at least 1")
    _require(thinking.langevin_noise_std >= 0, "thinking.langevin_noise_std", thinking.langevin_noise_std, "expected >= 0")
    denoising = config.denoising
    for key, level in [("denoising.noise_level", denoising.noise_level), *(("denoising.evaluation_noise_levels", level) for level in denoising.evaluation_levels())]:
        _require(0 < level <= 1, key, level, "expected a noise level in (0, 1], a fraction of the 1000-step schedule")
    _require(denoising.sampling_steps is None or denoising.sampling_steps > 0, "denoising.sampling_steps", denoising.sampling_steps, "expected null or at least 1")
    _require(config.optim.lr > 0, "optim.lr", config.optim.lr, "expected a positive learning rate")
    _require(config.optim.weight_decay >= 0, "optim.weight_decay", config.optim.weight_decay, "expected >= 0")
    _require(config.optim.warmup_steps >= 0, "optim.warmup_steps", config.optim.warmup_steps, "expected >= 0")
    _require(config.trainer.max_steps > 0, "trainer.max_steps", config.trainer.max_steps, "expected at least 1")
    _require(config.trainer.val_every_n_steps > 0, "trainer.val_every_n_steps", config.trainer.val_every_n_steps, "expected at least 1")
    _require(
        config.trainer.limit_val_batches is None or config.trainer.limit_val_batches > 0,
        "trainer.limit_val_batches",
        config.trainer.limit_val_batches,
        "expected a positive number of batches or null for all",
    )
    _require(config.trainer.log_every_n_steps > 0, "trainer.log_every_n_steps", config.trainer.log_every_n_steps, "expected at least 1")
    _require(
        not config.trainer.inference_mode,
        "trainer.inference_mode",
        config.trainer.inference_mode,
        "energy descent needs gradients during evaluation; set it to false",
    )
    _require(bool(config.experiment.strip()) and "/" not in config.experiment, "experiment", config.experiment, "expected a name without '/'")
