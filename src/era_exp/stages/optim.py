"""The stages' optimiser, AdamW with an optional per-step learning-rate factor, for both engines.

A stage describes its optimisation once (:class:`AdamWSchedule`). Lightning's Trainer gets it as
``torch.optim.AdamW`` with a per-step ``LambdaLR``; the in-memory loop gets :class:`LoopAdamW`,
which applies torch's own AdamW arithmetic (the functional ``torch.optim.adamw.adamw`` that
``AdamW.step`` calls, with the same lazily created state) without a ``torch.optim.Optimizer``.
Optimizer objects route every step and ``zero_grad`` through torch's compiler guards, which import
``torch._dynamo`` on first use (about a second of every fresh process) and add a few hundred
microseconds to each of the thousands of short steps of a grid point. The weights are equal bit
for bit (tests/stages/test_engines.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.optim.adamw import adamw

# torch.optim.AdamW's defaults, stated once for both engines.
BETAS = (0.9, 0.999)
EPS = 1e-8


@dataclass(frozen=True)
class AdamWSchedule:
    """AdamW on ``params`` at ``lr`` with decoupled ``weight_decay``; ``lr_factor(step)`` scales the rate."""

    params: tuple[Tensor, ...]
    lr: float
    weight_decay: float
    lr_factor: Callable[[int], float] | None = None

    def for_trainer(self) -> torch.optim.Optimizer | dict[str, Any]:
        """What a LightningModule's ``configure_optimizers`` returns for this schedule."""
        optimizer = torch.optim.AdamW(
            self.params, lr=self.lr, betas=BETAS, eps=EPS, weight_decay=self.weight_decay
        )
        if self.lr_factor is None:
            return optimizer
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def for_loop(self) -> LoopAdamW:
        """The in-memory loop's optimiser for this schedule."""
        return LoopAdamW(self)


class LoopAdamW:
    """``torch.optim.AdamW`` (and its ``LambdaLR``) as the loop uses them: ``zero_grad``, ``step``.

    State is created on a parameter's first step exactly as ``Adam._init_group`` creates it (a
    float32 step counter on the CPU, zeroed moments), the rate of step ``s`` is
    ``lr * lr_factor(s)`` as ``LambdaLR`` sets it, and the step is taken without gradients, as
    ``Optimizer.step`` takes it.
    """

    def __init__(self, schedule: AdamWSchedule) -> None:
        self.params = list(schedule.params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self.schedule = schedule
        self.steps = 0
        self.state: dict[Tensor, dict[str, Tensor]] = {}

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        schedule = self.schedule
        lr = schedule.lr if schedule.lr_factor is None else schedule.lr * schedule.lr_factor(self.steps)
        params = [param for param in self.params if param.grad is not None]
        states = [self._state(param) for param in params]
        adamw(
            params,
            [param.grad for param in params],
            [state["exp_avg"] for state in states],
            [state["exp_avg_sq"] for state in states],
            [],
            [state["step"] for state in states],
            has_complex=any(torch.is_complex(param) for param in params),
            amsgrad=False,
            beta1=BETAS[0],
            beta2=BETAS[1],
            lr=lr,
            weight_decay=schedule.weight_decay,
            eps=EPS,
            maximize=False,
        )
        self.steps += 1

    def _state(self, param: Tensor) -> dict[str, Tensor]:
        if param not in self.state:
            self.state[param] = {
                "step": torch.tensor(0.0, dtype=_step_dtype(), device="cpu"),
                "exp_avg": torch.zeros_like(param, memory_format=torch.preserve_format),
                "exp_avg_sq": torch.zeros_like(param, memory_format=torch.preserve_format),
            }
        return self.state[param]


def _step_dtype() -> torch.dtype:
    """The step counter's dtype, as torch's optimisers choose it (float64 only under that default)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
