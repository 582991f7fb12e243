"""The denoising EBT and the diffusion baseline, on the tiny image modality (7x7 patches, 16 per image)."""

import pytest
import torch

from ebtlab.config import build_config
from ebtlab.errors import ConfigError
from ebtlab.models import DenoisingEBT, DiffusionTransformer
from ebtlab.models.denoising import denoising_rows, whole_sequences
from ebtlab.run import build_model

from tiny import TINY_IMAGE_VALUES, TINY_VALUES, merge


def make_model(modality, architecture: str, **changes):
    config, _ = build_config(merge(TINY_IMAGE_VALUES, {"model": {"architecture": architecture}, **changes}))
    return build_model(modality, config)


@pytest.fixture
def batch(image_modality):
    return next(iter(image_modality.datamodule(seed=0).val_dataloader()))


def test_whole_sequences_put_first_patch_before_targets(batch):
    whole = whole_sequences(batch)
    assert whole.shape == (4, 16, 49)
    torch.testing.assert_close(whole[:, 1:], batch["target"])
    torch.testing.assert_close(whole[:, :-1], batch["observed"])


def test_training_batch_noises_to_training_level(image_modality, batch):
    model = make_model(image_modality, "denoising_ebt", denoising={"noise_level": 0.2})
    torch.manual_seed(3)
    noised = model.training_batch(batch)
    torch.manual_seed(3)
    noise = torch.randn(4, 16, 49)
    torch.testing.assert_close(noised["target"], whole_sequences(batch))
    torch.testing.assert_close(noised["observed"], model.schedule.add_noise(noised["target"], 200, noise))


def test_untrained_ebt_returns_noisy_input(image_modality, batch):
    # The zero-initialised energy head makes the energy flat, so descent does not move.
    model = make_model(image_modality, "denoising_ebt")
    noisy = whole_sequences(batch) + 0.3
    torch.testing.assert_close(model.denoise(noisy, 0.1), noisy, rtol=0, atol=0)


def test_ebt_descends_from_noisy_input(image_modality, batch):
    model = make_model(image_modality, "denoising_ebt", ebt={"descent_steps": 3})
    torch.nn.init.normal_(model.energy_network.energy_head.weight, std=0.5)
    noisy = whole_sequences(batch)
    best = model.think({"observed": noisy, "target": noisy}, model.thinking)
    assert [candidate.shape for candidate in best.candidates] == [noisy.shape] * 3
    assert [energy.shape for energy in best.energies] == [(4, 1)] * 3  # one energy per image
    assert not torch.equal(best.candidates[0], noisy)


def test_ebt_counts_forward_passes(image_modality):
    model = make_model(image_modality, "denoising_ebt", ebt={"descent_steps": 3}, thinking={"candidates": 2})
    assert model.network_evaluations(0.1) == 6


def test_ebt_random_step_size_per_image(image_modality, batch):
    model = make_model(image_modality, "denoising_ebt", ebt={"random_step_size": True, "step_size_learnable": False, "step_size": 100.0})
    step_sizes = model.training_step_size(whole_sequences(batch))
    assert step_sizes.shape == (4, 1, 1)
    assert ((step_sizes >= 50) & (step_sizes <= 200)).all()


def test_ebt_training_trains_energy(image_modality, batch):
    model = make_model(image_modality, "denoising_ebt", ebt={"step_size": 1000.0})
    loss = model.training_loss(batch)
    loss.backward()
    # Through the second-order graph the loss reaches the zero-initialised energy head.
    assert model.energy_network.energy_head.weight.grad.abs().sum() > 0


def test_untrained_diffusion_predicts_no_noise(image_modality, batch):
    model = make_model(image_modality, "diffusion")
    clean = whole_sequences(batch)
    assert torch.equal(model(clean, torch.full((4,), 50)), torch.zeros_like(clean))
    torch.manual_seed(0)
    loss = model.training_loss(batch)
    torch.manual_seed(0)
    torch.randint(1, 101, (4,))
    assert loss.item() == pytest.approx(torch.randn_like(clean).pow(2).mean().item(), rel=1e-6)


def test_diffusion_with_true_noise_recovers_clean(image_modality, batch):
    model = make_model(image_modality, "diffusion", denoising={"sampling_steps": 7})
    clean, noise = whole_sequences(batch), torch.randn(4, 16, 49)
    calls = []

    def true_noise(noisy, timesteps):
        calls.append(int(timesteps[0]))
        return noise

    model.forward = true_noise
    denoised = model.denoise(model.schedule.add_noise(clean, 200, noise), 0.2)
    torch.testing.assert_close(denoised, clean, rtol=0, atol=1e-5)
    assert calls == model.schedule.sampling_timesteps(200, 7)[:-1]
    assert model.network_evaluations(0.2) == 7


def test_diffusion_trains_up_to_training_level(image_modality, batch, monkeypatch):
    model = make_model(image_modality, "diffusion", denoising={"noise_level": 0.05})
    seen = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda noisy, timesteps: seen.append(timesteps) or forward(noisy, timesteps))
    for _ in range(20):
        model.training_loss(batch)
    timesteps = torch.cat(seen)
    assert timesteps.min() >= 1
    assert timesteps.max() <= 50


def test_models_share_noise_in_evaluation(image_modality, batch):
    ebt, diffusion = make_model(image_modality, "denoising_ebt"), make_model(image_modality, "diffusion")
    noisy, ebt_rows, diffusion_rows, clean = denoising_rows([ebt, diffusion], batch, 0.1, seed=5)
    again = denoising_rows([ebt], batch, 0.1, seed=5)
    torch.testing.assert_close(again[0], noisy)
    torch.testing.assert_close(ebt_rows, noisy)  # the untrained EBT leaves its input unchanged
    assert clean.shape == diffusion_rows.shape == noisy.shape


@pytest.mark.parametrize("architecture", ["denoising_ebt", "diffusion"])
def test_denoising_rejects_categorical_units(kjv_modality, architecture):
    config, _ = build_config(merge(TINY_VALUES, {"model": {"architecture": architecture}}))
    with pytest.raises(ConfigError, match="denoising needs continuous units, and modality 'text'"):
        build_model(kjv_modality, config)


def test_model_classes(image_modality):
    assert isinstance(make_model(image_modality, "denoising_ebt"), DenoisingEBT)
    assert isinstance(make_model(image_modality, "diffusion"), DiffusionTransformer)
