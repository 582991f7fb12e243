import pytest
import torch

from ebtlab.descent import DescentPlan, descend


def quadratic(optimum):
    """Energy 1/2 ||p - optimum||^2 per prediction: (B, S, C) -> (B, S)."""
    return lambda p, landscape: 0.5 * (p - optimum).pow(2).sum(dim=-1)


def identity(y):
    return y


def test_one_step_of_size_one_lands_on_optimum():
    # Quarters are exact in floating point, so y - (y - optimum) is exactly optimum.
    optimum = torch.randint(-40, 40, (2, 3, 4)) / 4
    initial = torch.randint(-40, 40, (2, 3, 4)) / 4
    plan = DescentPlan(landscapes=[0], detach_between_steps=True, second_order=False)
    result = descend(quadratic(optimum), initial, identity, 1.0, plan)
    torch.testing.assert_close(result.candidates[0], optimum, rtol=0, atol=0)


def test_one_step_lands_on_random_optimum_float64():
    optimum = torch.randn(2, 3, 4, dtype=torch.float64)
    plan = DescentPlan(landscapes=[0], detach_between_steps=True, second_order=True)
    result = descend(quadratic(optimum), torch.randn(2, 3, 4, dtype=torch.float64), identity, 1.0, plan)
    torch.testing.assert_close(result.candidates[0], optimum, rtol=0, atol=1e-12)


def test_records_energy_at_start_of_each_step():
    optimum = torch.zeros(1, 1, 2)
    initial = torch.tensor([[[2.0, 0.0]]])
    plan = DescentPlan(landscapes=[0, 0], detach_between_steps=True, second_order=False)
    result = descend(quadratic(optimum), initial, identity, 0.5, plan)
    # y_1 = 2 - 0.5 * 2 = 1; energies 1/2 * 2^2 = 2 and 1/2 * 1^2 = 0.5
    torch.testing.assert_close(result.candidates[0], torch.tensor([[[1.0, 0.0]]]))
    torch.testing.assert_close(torch.stack(result.energies).flatten(), torch.tensor([2.0, 0.5]))


def test_energy_never_rises_on_convex_quadratic():
    generator = torch.Generator().manual_seed(1)
    basis = torch.randn(6, 6, generator=generator)
    curvature = basis @ basis.T + 0.1 * torch.eye(6)
    step_size = 1.0 / torch.linalg.eigvalsh(curvature).max()

    def energy(p, landscape):
        return 0.5 * torch.einsum("bsi,ij,bsj->bs", p, curvature, p)

    plan = DescentPlan(landscapes=[0] * 20, detach_between_steps=True, second_order=False)
    result = descend(energy, torch.randn(3, 2, 6, generator=generator), identity, step_size, plan)
    energies = torch.stack(result.energies)  # (K, B, S)
    assert torch.all(energies[1:] <= energies[:-1])


def test_landscape_index_passed_per_step():
    seen = []

    def energy(p, landscape):
        seen.append(landscape)
        return p.sum(dim=-1)

    descend(energy, torch.zeros(1, 1, 1), identity, 1.0, DescentPlan([1, 0, 1], True, False))
    assert seen == [1, 0, 1]


def test_without_second_order_candidates_are_detached():
    optimum = torch.randn(1, 2, 3, requires_grad=True)
    with torch.no_grad():
        result = descend(quadratic(optimum), torch.randn(1, 2, 3), identity, 0.5, DescentPlan([0, 0], True, False))
    assert not any(candidate.requires_grad for candidate in result.candidates)


@pytest.mark.parametrize(("detach", "expected"), [(True, 0.5), (False, 0.75)])
def test_gradient_flow_between_steps(detach, expected):
    # y_k+1 = (1 - a) y_k + a * theta with a = 0.5: dy_2/dtheta is a when y_1 is detached, (1 - a) a + a otherwise.
    theta = torch.zeros(1, 1, 1, requires_grad=True)
    plan = DescentPlan(landscapes=[0, 0], detach_between_steps=detach, second_order=True)
    result = descend(quadratic(theta), torch.ones(1, 1, 1), identity, 0.5, plan)
    (gradient,) = torch.autograd.grad(result.candidates[1].sum(), theta)
    torch.testing.assert_close(gradient.flatten(), torch.tensor([expected]))


def test_learnable_step_size_receives_gradient():
    step_size = torch.tensor(0.3, requires_grad=True)
    optimum = torch.full((1, 1, 2), 2.0)
    plan = DescentPlan(landscapes=[0], detach_between_steps=True, second_order=True)
    result = descend(quadratic(optimum), torch.zeros(1, 1, 2), identity, step_size, plan)
    # y_1 = step_size * optimum, so d(sum y_1)/d(step_size) = sum(optimum) = 4
    (gradient,) = torch.autograd.grad(result.candidates[0].sum(), step_size)
    torch.testing.assert_close(gradient, torch.tensor(4.0))


def test_plan_needs_a_step():
    with pytest.raises(ValueError, match="at least one step"):
        DescentPlan(landscapes=[], detach_between_steps=True, second_order=False)


def test_final_energy_is_energy_of_last_candidate():
    optimum = torch.zeros(1, 1, 2)
    plan = DescentPlan(landscapes=[0, 0], detach_between_steps=True, second_order=False, final_energy=True)
    result = descend(quadratic(optimum), torch.tensor([[[2.0, 0.0]]]), identity, 0.5, plan)
    # y_2 = 1 - 0.5 * 1 = 0.5, so E(y_2) = 1/2 * 0.25
    torch.testing.assert_close(result.final_energies, torch.tensor([[0.125]]))


def test_accept_lower_never_raises_energy():
    # Step size 2.5 on 1/2 ||p||^2 overshoots: y_k+1 = -1.5 y_k, so every plain step raises the energy.
    generator = torch.Generator().manual_seed(0)
    initial = torch.randn(3, 4, 5, generator=generator)
    step_size = torch.where(torch.rand(3, 4, 1, generator=generator) < 0.5, 2.5, 0.5)  # some predictions converge
    plan = DescentPlan(landscapes=[0] * 4, detach_between_steps=True, second_order=False, accept_lower=True, final_energy=True)
    result = descend(quadratic(torch.zeros(3, 4, 5)), initial, identity, step_size, plan)
    energies = torch.stack([*result.energies, result.final_energies])  # (K + 1, B, S)
    assert torch.all(energies[1:] <= energies[:-1])
    overshooting = step_size.squeeze(-1) == 2.5
    torch.testing.assert_close(result.candidates[-1][overshooting], initial[overshooting])
    assert torch.all(energies[-1][~overshooting] < energies[0][~overshooting])


def test_accept_lower_needs_final_energy():
    plan = DescentPlan(landscapes=[0], detach_between_steps=True, second_order=False, accept_lower=True)
    with pytest.raises(ValueError, match="accept_lower needs final_energy"):
        descend(quadratic(torch.zeros(1, 1, 2)), torch.ones(1, 1, 2), identity, 1.0, plan)


def test_langevin_noise_on_all_updates_but_last():
    optimum = torch.zeros(2, 3, 4)
    initial = torch.randn(2, 3, 4)
    plan = DescentPlan(landscapes=[0, 0], detach_between_steps=True, second_order=False, noise_std=3.0)
    result = descend(quadratic(optimum), initial, identity, 0.5, plan, torch.Generator().manual_seed(7))
    noise = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(7))
    first = 0.5 * initial + 3.0 * noise
    torch.testing.assert_close(result.candidates[0], first)
    torch.testing.assert_close(result.candidates[1], 0.5 * first)


@pytest.mark.parametrize(("last_step_only", "first_step_trains"), [(False, True), (True, False)])
def test_truncated_second_order(last_step_only, first_step_trains):
    weight = torch.tensor(2.0, requires_grad=True)

    def energy(p, landscape):
        return 0.5 * weight * p.pow(2).sum(dim=-1)

    plan = DescentPlan(
        landscapes=[0, 0], detach_between_steps=False, second_order=True, second_order_last_step_only=last_step_only
    )
    result = descend(energy, torch.ones(1, 1, 3), identity, 0.1, plan)
    (first_gradient,) = torch.autograd.grad(result.candidates[0].sum(), weight, allow_unused=True, retain_graph=True)
    assert (first_gradient is not None) == first_step_trains
    (last_gradient,) = torch.autograd.grad(result.candidates[1].sum(), weight)
    assert last_gradient != 0
