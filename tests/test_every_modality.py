"""The same EBT and baseline classes train on every registered modality, with no modality-specific code."""

import math

import pytest

from ebtlab.config import build_config
from ebtlab.models import AutoregressiveTransformer, EnergyBasedTransformer
from ebtlab.modality import registered_modalities
from ebtlab.run import build_model, prepare_modality

from tiny import TINY_IMAGE_VALUES, TINY_VALUES, merge

# Every registered modality, with the fixture of its prepared adapter (None: prepared here).
MODALITIES = {"text": "kjv_modality", "image": "image_modality", "audio": "audio_modality", "sine": None}
STEPS = 8
# A larger learning rate than the recipes' and no warm-up, so that a few steps on one batch lower the loss.
TRAINING = {"optim": {"lr": 3e-3, "warmup_steps": 0}, "trainer": {"max_steps": STEPS}}


def config_values(name: str, audio_values: dict) -> dict:
    values = {"text": TINY_VALUES, "image": TINY_IMAGE_VALUES, "audio": audio_values}.get(name)
    if values is None:
        # A third-party modality trains with its own data defaults.
        values = {**merge(TINY_VALUES, {"experiment": f"tiny_{name}", "modality": name, "ebt": {"step_size": 50.0}}), "data": {}}
    return merge(values, TRAINING)


def training_losses(model, batch: dict) -> list[float]:
    """Train `model` for STEPS optimizer steps on one batch, as Lightning would; return the loss before each step."""
    optimization = model.configure_optimizers()
    optimizer, schedule = optimization["optimizer"], optimization["lr_scheduler"]["scheduler"]
    model.train()
    losses = []
    for _ in range(STEPS):
        loss = model.training_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return losses


def test_every_registered_modality_is_covered(sine_installed):
    assert set(registered_modalities()) == set(MODALITIES)


@pytest.mark.parametrize("name", list(MODALITIES))
@pytest.mark.parametrize("architecture", ["ebt", "transformer"])
def test_training_lowers_loss_on_every_modality(request, sine_installed, audio_values, name, architecture):
    values = merge(config_values(name, audio_values), {"model": {"architecture": architecture}})
    config, modality_class = build_config(values)
    fixture = MODALITIES[name]
    modality = request.getfixturevalue(fixture) if fixture else prepare_modality(config, modality_class)
    model = build_model(modality, config)
    assert type(model) is {"ebt": EnergyBasedTransformer, "transformer": AutoregressiveTransformer}[architecture]

    batch = next(iter(modality.datamodule(seed=0).train_dataloader()))
    losses = training_losses(model, batch)
    assert all(math.isfinite(loss) for loss in losses), losses
    assert losses[-1] < losses[0], losses
    assert sum(losses[-3:]) < sum(losses[:3]), losses
