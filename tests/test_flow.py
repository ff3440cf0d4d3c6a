"""Flow matching against velocity fields with known answers."""

import math

import pytest
import torch

from avremix.flow import cfm_loss, integrate, rollout_loss, sample_path


def test_path_endpoints_and_velocity():
    x0, x1 = torch.randn(4, 3), torch.randn(4, 3)
    for t, expected in ((0.0, x0), (1.0, x1)):
        s = sample_path(x0, x1, torch.full((4,), t))
        torch.testing.assert_close(s.xt, expected)
        torch.testing.assert_close(s.ut, x1 - x0)
    s = sample_path(x0, x1, torch.full((4,), 0.25))
    torch.testing.assert_close(s.xt, 0.75 * x0 + 0.25 * x1)


def test_true_velocity_has_zero_loss_and_reaches_the_target():
    x0, x1 = torch.randn(8, 5), torch.randn(8, 5)
    s = sample_path(x0, x1)
    assert cfm_loss(s.ut, s).item() == 0.0
    v = lambda x, t: x1 - x0  # noqa: E731  the straight path's constant velocity
    torch.testing.assert_close(integrate(v, x0, steps=1), x1)


@pytest.mark.parametrize("method,steps,tol", [("euler", 200, 1e-2), ("midpoint", 20, 2e-3)])
def test_solvers_on_linear_ode(method, steps, tol):
    """dx/dt = -x has x(1) = x0 * e^-1."""
    x0 = torch.randn(6, 2, dtype=torch.float64)
    x1 = integrate(lambda x, t: -x, x0, steps=steps, method=method)
    assert torch.max(torch.abs(x1 - x0 * math.exp(-1))).item() < tol


def test_midpoint_is_second_order():
    """dx/dt = t: x(1) = x0 + 1/2; Euler misses by dt/2, midpoint is exact."""
    x0 = torch.zeros(3, 1, dtype=torch.float64)
    v = lambda x, t: t[:, None].expand_as(x)  # noqa: E731
    assert torch.allclose(integrate(v, x0, 10, "midpoint"), x0 + 0.5)
    assert torch.allclose(integrate(v, x0, 10, "euler"), x0 + 0.45)


def test_rollout_loss_is_differentiable_and_zero_for_the_true_field():
    x0, x1 = torch.randn(4, 3), torch.randn(4, 3)
    scale = torch.tensor(0.5, requires_grad=True)
    loss = rollout_loss(lambda x, t: scale * (x1 - x0), x0, x1, steps=4)
    loss.backward()
    assert loss.item() > 0 and scale.grad is not None and scale.grad.item() < 0  # a larger scale gets closer
    assert rollout_loss(lambda x, t: x1 - x0, x0, x1, steps=3).item() < 1e-10


def test_learning_a_field_from_samples():
    """A tiny network trained with cfm_loss transports N(0, 1) to N(3, 1)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    v = lambda x, t: net(torch.cat([x, t[:, None]], 1))  # noqa: E731
    for _ in range(300):
        x0 = torch.randn(256, 1)
        s = sample_path(x0, x0 + 3.0)
        loss = cfm_loss(v(s.xt, s.t), s)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = integrate(v, torch.randn(512, 1), steps=10, method="midpoint")
    assert abs(out.mean().item() - 3.0) < 0.15
