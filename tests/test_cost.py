import torch
from torch import nn

from ebtlab.cost import peak_training_step_memory, training_step_flops
from ebtlab.models import PredictionModel


class LinearModel(PredictionModel):
    """A linear map whose training step is easy to count by hand."""

    def __init__(self, modality=None, *, inputs: int, outputs: int, intermediate_floats: int = 0):
        super().__init__(modality, optim=None, max_steps=1, seed=0)
        self.linear = nn.Linear(inputs, outputs, bias=False)
        self.intermediate_floats = intermediate_floats

    def training_loss(self, batch: dict) -> torch.Tensor:
        loss = self.linear(batch["observed"]).sum()
        if self.intermediate_floats:
            loss = loss + torch.ones(self.intermediate_floats).mul(2.0).sum()
        # Draw from the global generator, as descent does for initial candidates.
        return loss + 0.0 * torch.randn(())


def linear_batch(rows: int, inputs: int) -> dict:
    return {"observed": torch.randn(rows, inputs), "target": torch.zeros(rows, dtype=torch.long)}


def test_flops_match_hand_count():
    model = LinearModel(inputs=8, outputs=3)
    # Forward (4 x 8) @ (8 x 3): 2 * 4 * 8 * 3. Backward: only the weight gradient, the same size.
    assert training_step_flops(model, linear_batch(4, 8)) == 2 * (2 * 4 * 8 * 3)


def test_flop_count_leaves_no_trace():
    model = LinearModel(inputs=8, outputs=3)
    batch = linear_batch(4, 8)
    state = torch.get_rng_state()
    training_step_flops(model, batch)
    assert torch.equal(torch.get_rng_state(), state)
    assert model.linear.weight.grad is None


def test_peak_memory_sees_intermediate_tensor():
    floats = 1_000_000
    small = peak_training_step_memory(LinearModel(inputs=8, outputs=3), linear_batch(4, 8))
    large = peak_training_step_memory(LinearModel(inputs=8, outputs=3, intermediate_floats=floats), linear_batch(4, 8))
    assert small < 100_000
    assert 4 * floats <= large - small < 3 * 4 * floats
