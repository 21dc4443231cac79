"""Stage 2: InfoNCE shapes, the warm-up/decay schedule, learning, early stopping restoring the best."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from era_exp.adapters import build_adapter
from era_exp.config import AdaptationConfig
from era_exp.stages import (
    AdaptationModule,
    InfoNCE,
    PairSet,
    info_nce_logits,
    train_adaptation,
    warmup_linear,
)
from helpers.synthetic_pairs import rotation, synthetic_pairs

PAPER_INFO_NCE = InfoNCE(temperature=0.05, in_batch_negatives=False)


def _module(adapter: torch.nn.Module, **settings) -> AdaptationModule:
    """A module with the schema's Stage-2 settings, ``settings`` overriding them."""
    paper = AdaptationConfig()
    kwargs = {"lr": paper.lr, "weight_decay": paper.weight_decay, "warmup_fraction": paper.warmup_fraction}
    return AdaptationModule(
        adapter, PAPER_INFO_NCE, **{**kwargs, "nominal_epochs": paper.nominal_epochs, **settings}
    )


def _val_loss(adapter: torch.nn.Module, pairs: PairSet) -> float:
    with torch.no_grad():
        candidates = PAPER_INFO_NCE.candidates(pairs.positive, pairs.negatives)
        return float(_module(adapter).loss((pairs.query, candidates), validation=True))


def test_info_nce_logits_shapes_and_targets() -> None:
    g = torch.Generator().manual_seed(0)
    anchor = F.normalize(torch.randn(4, 3, generator=g), dim=-1)
    positive, negatives = torch.randn(4, 3, generator=g), torch.randn(4, 5, 3, generator=g)
    logits, target = info_nce_logits(anchor, positive, negatives, temperature=0.05)
    assert logits.shape == (4, 6) and target.tolist() == [0, 0, 0, 0]
    assert logits.abs().max() <= 1 / 0.05 + 1e-4

    wide, wide_target = info_nce_logits(anchor, positive, negatives, temperature=0.05, in_batch=True)
    assert wide.shape == (4, 24) and wide_target.tolist() == [0, 6, 12, 18]
    for i in range(4):  # each query's own candidates sit in its block of the wide logits
        torch.testing.assert_close(wide[i, 6 * i : 6 * i + 6], logits[i])


def test_warmup_then_linear_decay() -> None:
    assert warmup_linear(0, 10, 100) == 0.0
    assert warmup_linear(5, 10, 100) == pytest.approx(0.5)
    assert warmup_linear(10, 10, 100) == 1.0
    assert warmup_linear(55, 10, 100) == pytest.approx(0.5)
    assert warmup_linear(100, 10, 100) == 0.0
    assert warmup_linear(130, 10, 100) == 0.0


def test_module_schedule_spans_the_nominal_epochs() -> None:
    module = _module(
        build_adapter("linear", 4, 3), lr=1e-3, warmup_fraction=0.1, nominal_epochs=20, steps_per_epoch=5
    )
    assert module.schedule_steps() == (10, 100)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"
    lrs = []
    for _ in range(101):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[10] == pytest.approx(1e-3)
    assert lrs[100] == 0.0
    assert max(lrs) == pytest.approx(1e-3)


def test_adaptation_lowers_validation_loss() -> None:
    mapping = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    train, val = synthetic_pairs(48, mapping, seed=1), synthetic_pairs(32, mapping, seed=2)
    torch.manual_seed(0)
    adapter = build_adapter("linear", 8, 4)
    before = _val_loss(adapter, val)
    cfg = AdaptationConfig(
        lr=0.1, batch_size=16, nominal_epochs=15, warmup_fraction=0.1, objective=PAPER_INFO_NCE
    )
    result = train_adaptation(adapter, train, val, cfg, seed=3)
    assert result["best_val_loss"] < before / 4, (before, result["val_losses"])
    assert _val_loss(adapter, val) == pytest.approx(result["best_val_loss"], abs=1e-5)


def test_early_stopping_restores_the_best_epoch() -> None:
    # Training pulls the adapter from R(-θ) towards R(+θ) while validation wants the identity,
    # which lies half-way: validation loss falls, then rises until early stopping ends the fit.
    d, theta = 8, 1.0
    train, val = synthetic_pairs(64, rotation(d, theta), seed=1), synthetic_pairs(64, torch.eye(d), seed=2)
    adapter = build_adapter("linear", d, d)
    with torch.no_grad():
        adapter.linear.weight.copy_(rotation(d, -theta))
        adapter.linear.bias.zero_()
    cfg = AdaptationConfig(
        lr=0.02, batch_size=64, nominal_epochs=40, warmup_fraction=0.0, patience=3, objective=PAPER_INFO_NCE
    )
    result = train_adaptation(adapter, train, val, cfg, seed=1)
    history = result["val_losses"]
    assert len(history) == result["epochs"] < 40  # stopped early
    assert result["best_epoch"] == history.index(min(history)) == result["epochs"] - 1 - cfg.patience
    assert result["best_val_loss"] == min(history) < history[-1]
    assert _val_loss(adapter, val) == pytest.approx(result["best_val_loss"], abs=1e-5)


def test_in_batch_negatives_train() -> None:
    mapping = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    train, val = synthetic_pairs(24, mapping, seed=1), synthetic_pairs(8, mapping, seed=2)
    cfg = AdaptationConfig(
        lr=0.01, batch_size=8, nominal_epochs=2, objective=InfoNCE(temperature=0.05, in_batch_negatives=True)
    )
    result = train_adaptation(build_adapter("linear", 8, 4), train, val, cfg, seed=1)
    assert result["epochs"] == 2 and len(result["val_losses"]) == 2


def test_empty_validation_set_is_an_error() -> None:
    mapping = torch.randn(4, 8)
    empty = PairSet(torch.zeros(0, 8), torch.zeros(0, 4), torch.zeros(0, 5, 4))
    with pytest.raises(ValueError, match="validation set is empty"):
        train_adaptation(
            build_adapter("linear", 8, 4),
            synthetic_pairs(8, mapping, 1),
            empty,
            AdaptationConfig(objective=PAPER_INFO_NCE),
            seed=1,
        )
