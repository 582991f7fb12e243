import math

import pytest
import torch

from ebtlab.noise_schedule import BETA_END, BETA_START, SCHEDULE_STEPS, NoiseSchedule


def test_alpha_bar_is_product_of_one_minus_betas():
    schedule = NoiseSchedule()
    betas = [BETA_START + (BETA_END - BETA_START) * s / (SCHEDULE_STEPS - 1) for s in range(SCHEDULE_STEPS)]
    assert schedule.alpha_bars[0] == 1.0
    assert float(schedule.alpha_bars[100]) == pytest.approx(math.prod(1 - beta for beta in betas[:100]), rel=1e-12)


def test_level_is_fraction_of_schedule():
    schedule = NoiseSchedule()
    assert schedule.timestep(0.1) == 100
    assert schedule.timestep(0.2) == 200
    assert schedule.timestep(0.0001) == 1
    assert schedule.noise_std(100) == pytest.approx(0.3209, abs=1e-4)  # "level 0.1 is noise std about 0.32"
    with pytest.raises(ValueError, match="noise level"):
        schedule.timestep(0)


def test_add_noise_per_row_timesteps():
    schedule = NoiseSchedule()
    clean, noise = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    rows = schedule.add_noise(clean, torch.tensor([100, 200]), noise)
    torch.testing.assert_close(rows[0], schedule.add_noise(clean[:1], 100, noise[:1])[0])
    torch.testing.assert_close(rows[1], schedule.add_noise(clean[1:], 200, noise[1:])[0])
    signal, spread = schedule.alpha_bars[200].sqrt().item(), (1 - schedule.alpha_bars[200]).sqrt().item()
    torch.testing.assert_close(rows[1], signal * clean[1] + spread * noise[1])


def test_ddim_with_true_noise_recovers_clean_exactly():
    schedule = NoiseSchedule()
    clean, noise = torch.rand(2, 5, 3, dtype=torch.float64) * 2 - 1, torch.randn(2, 5, 3, dtype=torch.float64)
    noisy = schedule.add_noise(clean, 200, noise)
    torch.testing.assert_close(schedule.ddim_step(noisy, noise, 200, 0), clean, rtol=0, atol=1e-12)
    torch.testing.assert_close(schedule.ddim_step(noisy, noise, 200, 150), schedule.add_noise(clean, 150, noise), rtol=0, atol=1e-12)


def test_sampling_timesteps():
    schedule = NoiseSchedule()
    assert schedule.sampling_timesteps(100, None) == list(range(100, -1, -1))
    assert schedule.sampling_timesteps(100, 4) == [100, 75, 50, 25, 0]
    assert schedule.sampling_timesteps(3, 10) == [3, 2, 1, 0]
