from pathlib import Path

import pytest

from ebtlab.config import DEFAULT_CONFIG, build_config, load_config, parse_overrides, to_plain
from ebtlab.errors import ConfigError
from ebtlab_text import TextDataConfig, TextModality

from tiny import merge

CONFIGS = sorted(path for path in (Path(__file__).resolve().parents[1] / "configs").rglob("*.yaml") if not path.is_symlink())


def test_default_config_is_the_text_s1_job():
    assert DEFAULT_CONFIG.resolve() == DEFAULT_CONFIG.parent / "text" / "ebt_s1.yaml"
    config, modality = load_config(None, [])
    assert modality is TextModality
    assert isinstance(config.data, TextDataConfig)
    assert config.ebt.descent_steps == 2
    assert config.ebt.landscapes == "per_step"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: str(path.relative_to(path.parents[1])))
def test_shipped_configs_load(path):
    config, _ = load_config(path, [])
    assert config.experiment


def test_overrides_apply_with_types(tiny_values):
    config, _ = build_config(merge(tiny_values, parse_overrides(["trainer.max_steps=7", "data.files=[a.txt]", "model.attention=masked"])))
    assert config.trainer.max_steps == 7
    assert config.data.files == ["a.txt"]
    assert config.model.attention == "masked"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.foo=1", "invalid config at model.foo: Key 'foo' not in 'ModelConfig'"),
        ("data.vocab=10", "invalid config at data.vocab: Key 'vocab' not in 'TextDataConfig'"),
        ("trainer.max_steps=abc", "invalid config at trainer.max_steps"),
        ("ebt.landscapes=every", "invalid config at ebt.landscapes"),
        ("ebt.step_size=0", "invalid value for ebt.step_size: 0.0"),
        ("ebt.descent_steps=0", "invalid value for ebt.descent_steps"),
        ("model.size=huge", "model.size: unknown size preset 'huge'; known presets: 4xs"),
        ("ebt.min_training_descent_steps=3", "invalid value for ebt.min_training_descent_steps: 3 (expected null or 1..ebt.descent_steps=2)"),
        ("ebt.random_step_size=true", "a random step size cannot also be learnable"),
        ("ebt.replay_share=0", "invalid value for ebt.replay_share"),
        ("ebt.langevin_noise_std=-1", "invalid value for ebt.langevin_noise_std"),
        ("thinking.candidates=0", "invalid value for thinking.candidates: 0"),
        ("thinking.step_size=0", "invalid value for thinking.step_size"),
        ("thinking.selection=random", "invalid config at thinking.selection"),
        ("model.architecture=rnn", "invalid value for model.architecture: 'rnn' (known architectures: ebt, transformer, denoising_ebt, diffusion)"),
        ("model.heads=3", "invalid value for model.width: 32"),
        ("denoising.noise_level=0", "invalid value for denoising.noise_level: 0.0 (expected a noise level in (0, 1]"),
        ("denoising.evaluation_noise_levels=[0.1,1.5]", "invalid value for denoising.evaluation_noise_levels: 1.5"),
        ("denoising.sampling_steps=0", "invalid value for denoising.sampling_steps: 0 (expected null or at least 1)"),
        ("modality=smell", "unknown modality 'smell'; registered modalities: audio, image, text"),
        ("trainer.limit_val_batches=0", "invalid value for trainer.limit_val_batches"),
        ("data.files=notes.txt", "invalid config at data.files: expected a list, such as data.files=[first,second]"),
    ],
)
def test_invalid_values_name_the_key(tiny_values, override, message):
    with pytest.raises(ConfigError) as error:
        build_config(merge(tiny_values, parse_overrides([override])))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_override_without_equals_is_rejected():
    with pytest.raises(ConfigError, match="not of the form key=value"):
        parse_overrides(["trainer.max_steps"])


def test_modality_is_required(tiny_values):
    del tiny_values["modality"]
    with pytest.raises(ConfigError, match="missing config key modality; set it to a registered modality: audio, image, text"):
        build_config(tiny_values)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", [])


def test_config_path_is_directory(tmp_path):
    with pytest.raises(ConfigError, match="is not a file"):
        load_config(tmp_path, [])


def test_invalid_yaml_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("trainer:\n  max_steps: [1, 2\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, [])
    assert "is not valid YAML" in str(error.value)
    assert "line" in str(error.value)
    assert "\n" not in str(error.value)


def test_non_mapping_yaml_rejected(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(path, [])


def test_plain_round_trip(tiny_values):
    config, _ = build_config(tiny_values)
    again, _ = build_config(to_plain(config))
    assert again == config


def test_size_preset_overrides(tiny_values):
    config, _ = build_config(merge(tiny_values, {"model": {"size": "3xs", "layers": None, "width": None, "heads": None}}))
    shape = config.model.shape()
    assert (shape.layers, shape.width, shape.heads) == (4, 256, 4)
    config, _ = build_config(merge(tiny_values, {"model": {"size": "3xs", "layers": 1, "width": None, "heads": None}}))
    assert config.model.shape().layers == 1


@pytest.mark.parametrize("override", ["data.batch_size=[", "data.batch_size='", "data.batch_size==", "data.batch_size=\x1f"])
def test_override_with_invalid_yaml_value(override):
    with pytest.raises(ConfigError, match="invalid override: the value is not valid YAML"):
        parse_overrides([override])


@pytest.mark.parametrize("value", ["${oc.env:HOME}", "${missing}", "a ${b} c"])
def test_interpolations_rejected(tiny_values, value):
    with pytest.raises(ConfigError, match=r"invalid config at ebt.step_size: .* is an interpolation"):
        build_config(merge(tiny_values, {"ebt": {"step_size": value}}))


def test_denoising_evaluation_levels(tiny_values):
    config, _ = build_config(tiny_values)
    assert config.denoising.evaluation_levels() == [0.1, 0.2]  # the training level and twice it
    config, _ = build_config(merge(tiny_values, {"denoising": {"noise_level": 0.05, "evaluation_noise_levels": [0.3, 0.05]}}))
    assert config.denoising.evaluation_levels() == [0.05, 0.3]  # the training level first, once
