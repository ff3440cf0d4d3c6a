"""Conditional flow matching: the probability path, the losses and the ODE samplers.

Path (linear, "rectified flow"), from a source sample ``x0`` to a data sample ``x1``::

    x_t = (1 - t) * x0 + t * x1 + sigma * eps,     u_t(x_t | x0, x1) = x1 - x0,     t ~ U[0, 1]

A network ``v(x_t, t, cond)`` regresses the conditional velocity (``cfm_loss``: mean squared error to
``u_t``). Generation integrates ``dx/dt = v(x, t)`` from ``t = 0`` to ``1`` with Euler or midpoint steps.

For highlighting, ``x0`` is the poorly mixed input (plus a little noise so the map is stochastic) and
``x1`` the well-mixed target, so the flow only has to carry the input to its remix.

Rollout loss (arXiv 2602.03762): integrate the learned ODE for ``K`` steps from ``x0`` inside training
(gradients flow through every step) and penalise the distance of the final state to ``x1``. Early
errors in choosing what to highlight compound along the trajectory; penalising where it ends teaches the
field to correct itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

#: v(x, t) -> dx/dt, with t a tensor of shape [B]
VelocityFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class PathSample:
    t: torch.Tensor  # [B]
    x0: torch.Tensor  # [B, ...] source
    x1: torch.Tensor  # [B, ...] data
    xt: torch.Tensor  # [B, ...] point on the path at t
    ut: torch.Tensor  # [B, ...] target velocity at (xt, t)


def _expand(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, *([1] * (like.dim() - 1)))  # [B, 1, ..., 1]


def sample_path(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor | None = None, sigma: float = 0.0, generator: torch.Generator | None = None) -> PathSample:
    """A point of the linear path between ``x0`` and ``x1`` at ``t`` (drawn uniformly when not given)."""
    if t is None:
        t = torch.rand(x0.shape[0], device=x0.device, generator=generator)
    tt = _expand(t, x0)
    xt = (1 - tt) * x0 + tt * x1
    if sigma > 0:
        xt = xt + sigma * torch.randn(x0.shape, device=x0.device, generator=generator)
    return PathSample(t=t, x0=x0, x1=x1, xt=xt, ut=x1 - x0)


def cfm_loss(v_pred: torch.Tensor, sample: PathSample) -> torch.Tensor:
    """Mean squared error between predicted and conditional velocity."""
    return torch.mean((v_pred - sample.ut) ** 2)


def step(v: VelocityFn, x: torch.Tensor, t: float, dt: float, method: str = "euler") -> torch.Tensor:
    """One ODE step from time ``t`` to ``t + dt``."""
    tb = torch.full((x.shape[0],), t, device=x.device, dtype=x.dtype)
    if method == "euler":
        return x + dt * v(x, tb)
    if method == "midpoint":
        half = x + 0.5 * dt * v(x, tb)
        return x + dt * v(half, tb + 0.5 * dt)
    raise ValueError(f"unknown ODE method {method!r}; use euler or midpoint")


def integrate(v: VelocityFn, x0: torch.Tensor, steps: int = 8, method: str = "euler", t0: float = 0.0, t1: float = 1.0) -> torch.Tensor:
    """Integrate ``dx/dt = v(x, t)`` from ``t0`` to ``t1`` in ``steps`` equal steps."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    dt = (t1 - t0) / steps
    x = x0
    for k in range(steps):
        x = step(v, x, t0 + k * dt, dt, method)
    return x


def rollout_loss(v: VelocityFn, x0: torch.Tensor, x1: torch.Tensor, steps: int = 4, method: str = "euler", distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Distance between the end of a ``steps``-step rollout from ``x0`` and the target ``x1``."""
    end = integrate(v, x0, steps, method)
    return distance(end, x1) if distance is not None else torch.mean((end - x1) ** 2)
