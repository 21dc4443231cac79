"""The loop's AdamW against torch.optim.AdamW with LambdaLR: the same weights, bit for bit."""

from __future__ import annotations

import torch

from era_exp.stages.adaptation import warmup_linear
from era_exp.stages.optim import AdamWSchedule


def _fit(schedule_of, loop: bool, steps: int = 25) -> dict[str, torch.Tensor]:
    """``steps`` AdamW steps on a small regression from fixed weights; the final weights."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    model[2].bias.requires_grad_(False)  # a parameter without gradients is skipped by both
    schedule = schedule_of(tuple(model.parameters()))
    if loop:
        optimizer, scheduler = schedule.for_loop(), None
    else:
        built = schedule.for_trainer()
        optimizer = built["optimizer"] if isinstance(built, dict) else built
        scheduler = built["lr_scheduler"]["scheduler"] if isinstance(built, dict) else None
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(40, 6, generator=g), torch.randn(40, 3, generator=g)
    for step in range(steps):
        rows = slice(8 * (step % 5), 8 * (step % 5) + 8)
        loss = torch.nn.functional.mse_loss(model(x[rows]), y[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_constant_rate_matches_torch_adamw() -> None:
    def schedule(params):
        return AdamWSchedule(params, lr=3e-2, weight_decay=0.01)

    _same(_fit(schedule, loop=True), _fit(schedule, loop=False))


def test_per_step_rate_matches_lambda_lr() -> None:
    def schedule(params):
        return AdamWSchedule(params, lr=5e-2, weight_decay=1e-4, lr_factor=lambda s: warmup_linear(s, 4, 20))

    loop = _fit(schedule, loop=True)
    _same(loop, _fit(schedule, loop=False))
    # The schedule matters: a constant rate ends elsewhere.
    constant = _fit(lambda params: AdamWSchedule(params, lr=5e-2, weight_decay=1e-4), loop=True)
    assert not torch.equal(loop["0.weight"], constant["0.weight"])
