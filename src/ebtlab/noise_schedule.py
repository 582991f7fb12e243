"""The linear variance schedule of diffusion models, forward noising and the DDIM update.

Notation: B batch, P units per sequence, C unit width, T schedule steps.

Step t of the schedule adds noise with variance beta_t, linear from BETA_START to BETA_END over
T = 1000 steps (DDPM, Ho et al. 2020). After t steps a clean x_0 becomes
x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps with abar_t = prod_{s <= t} (1 - beta_s) and eps
standard normal. A noise level is the fraction t / T of the schedule. Level 0.1 is
t = 100, where the noise std sqrt(1 - abar_t) is about 0.32, on data scaled to [-1, 1].
"""

import torch

# The DDPM schedule constants, used unchanged by DiT and by the published EBT denoising runs.
SCHEDULE_STEPS = 1000
BETA_START = 1e-4
BETA_END = 0.02


class NoiseSchedule:
    """abar_t for t = 0..T, with abar_0 = 1 for the clean data."""

    def __init__(self):
        betas = torch.linspace(BETA_START, BETA_END, SCHEDULE_STEPS, dtype=torch.float64)
        self.alpha_bars = torch.cat((torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, dim=0)))  # (T + 1,)

    def timestep(self, level: float) -> int:
        """Return the schedule step t of a noise level, the fraction t / T of the schedule."""
        if not 0 < level <= 1:
            raise ValueError(f"a noise level is a fraction of the schedule in (0, 1], got {level}")
        return max(1, round(level * SCHEDULE_STEPS))

    def noise_std(self, timestep: int) -> float:
        """Return the standard deviation sqrt(1 - abar_t) of the noise in x_t."""
        return float((1 - self.alpha_bars[timestep]).sqrt())

    def coefficients(self, timestep: torch.Tensor | int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return sqrt(abar_t) and sqrt(1 - abar_t), shaped to broadcast against `like` (B, P, C)."""
        alpha_bar = self.alpha_bars[torch.as_tensor(timestep)].to(like.device, like.dtype)
        alpha_bar = alpha_bar.reshape(-1, *([1] * (like.dim() - 1))) if alpha_bar.dim() else alpha_bar
        return alpha_bar.sqrt(), (1 - alpha_bar).sqrt()

    def add_noise(self, clean: torch.Tensor, timestep: torch.Tensor | int, noise: torch.Tensor) -> torch.Tensor:
        """Return x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps; `timestep` is one int or one per row (B,)."""
        signal, spread = self.coefficients(timestep, clean)
        return signal * clean + spread * noise

    def ddim_step(self, noisy: torch.Tensor, noise: torch.Tensor, timestep: int, next_timestep: int) -> torch.Tensor:
        """Return x_t' from x_t and a prediction of its noise eps, by the deterministic DDIM update (eta = 0).

        The update estimates x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) and noises it to
        t' < t with the same eps. With the true eps it returns x_t' exactly, and x_0 at t' = 0.
        """
        signal, spread = self.coefficients(timestep, noisy)
        clean = (noisy - spread * noise) / signal
        return self.add_noise(clean, next_timestep, noise)

    def sampling_timesteps(self, timestep: int, steps: int | None) -> list[int]:
        """Return the decreasing timesteps t, ..., 0 that DDIM visits from t in `steps` updates (None: every step)."""
        steps = timestep if steps is None else min(steps, timestep)
        points = torch.linspace(timestep, 0, steps + 1, dtype=torch.float64).round().long().tolist()
        return list(dict.fromkeys(points))
