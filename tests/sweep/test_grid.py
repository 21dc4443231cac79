"""Grid expansion matches Hydra's basic sweeper: command line and experiment-declared parameters."""

from __future__ import annotations

from era_exp.sweep.grid import expand_grid


def test_cartesian_product_in_launch_order() -> None:
    points = expand_grid(
        ["pair=mpnet_to_minilm,minilm_to_minilm", "method=zero_shot,era", "train_ratio=0.1,0.2"]
    )
    assert len(points) == 8
    assert points[0] == ["pair=mpnet_to_minilm", "method=zero_shot", "train_ratio=0.1"]
    assert len({tuple(point) for point in points}) == 8


def test_command_line_wins_over_declared_params() -> None:
    points = expand_grid(["+experiment=ablation_adapter", "adapter=linear"])
    assert points == [["adapter=linear", "+experiment=ablation_adapter"]]


def test_single_point() -> None:
    assert expand_grid(["data=builtin"]) == [["data=builtin"]]
