"""Training objectives (textclass.training.losses): focal loss, class and positive weights, and
the losses that cannot serve a task."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from textclass.config.schema import TrainConfig
from textclass.errors import ConfigError
from textclass.training.losses import (
    build_loss,
    class_weights,
    focal_loss,
    pos_weights,
    sigmoid_focal_loss,
)


def test_focal_loss_with_gamma_zero_is_cross_entropy():
    torch.manual_seed(0)
    logits, y = torch.randn(16, 4), torch.randint(0, 4, (16,))
    assert torch.allclose(focal_loss(logits, y, gamma=0.0), F.cross_entropy(logits, y))
    # gamma > 0 down-weights easy examples: never more than cross-entropy.
    assert focal_loss(logits, y, gamma=2.0) < F.cross_entropy(logits, y)
    targets = (torch.rand(16, 4) > 0.5).float()
    assert torch.allclose(
        sigmoid_focal_loss(logits, targets, gamma=0.0),
        F.binary_cross_entropy_with_logits(logits, targets),
    )


def test_focal_loss_focuses_on_hard_examples():
    easy, hard = torch.tensor([[4.0, -4.0]]), torch.tensor([[0.0, 0.0]])
    y = torch.tensor([0])
    ratio_ce = F.cross_entropy(hard, y) / F.cross_entropy(easy, y)
    ratio_focal = focal_loss(hard, y, 2.0) / focal_loss(easy, y, 2.0)
    assert ratio_focal > 100 * ratio_ce


def test_focal_gradients_stay_finite_for_small_gamma():
    logits = torch.tensor([[30.0, 0.0]], requires_grad=True)
    focal_loss(logits, torch.tensor([0]), gamma=0.5).backward()
    assert torch.isfinite(logits.grad).all()
    logits = torch.tensor([[30.0, -30.0]], requires_grad=True)
    sigmoid_focal_loss(logits, torch.tensor([[1.0, 0.0]]), gamma=0.5).backward()
    assert torch.isfinite(logits.grad).all()


def test_class_weights_balanced_and_given():
    y = np.array([0, 0, 0, 1])
    balanced = class_weights("balanced", ["a", "b"], y)
    assert balanced.tolist() == pytest.approx([4 / (2 * 3), 4 / (2 * 1)])
    assert class_weights({"b": 3.0}, ["a", "b"], y).tolist() == [1.0, 3.0]
    assert class_weights("none", ["a", "b"], y) is None


def test_build_loss_by_task_and_weights():
    y = np.array([0, 0, 0, 1])
    ce = build_loss(TrainConfig(class_weights="balanced"), "single_label", ["a", "b"], y)
    assert ce.name == "cross_entropy"
    assert ce.weights == pytest.approx({"a": 4 / 6, "b": 2.0})
    focal = build_loss(
        TrainConfig(loss={"name": "focal", "alpha": 0.75}), "single_label", ["a", "b"], y
    )
    assert focal.weights == pytest.approx({"a": 0.25, "b": 0.75})
    assert focal.describe()["params"]["gamma"] == 2.0
    ym = np.array([[1, 0], [1, 0], [1, 1], [1, 0]], dtype=np.float32)
    bce = build_loss(TrainConfig(loss={"pos_weight": "balanced"}), "multi_label", ["a", "b"], ym)
    assert bce.name == "bce"
    assert bce.weights == pytest.approx({"a": 1.0, "b": 3.0})  # negatives / positives, >= 1
    assert pos_weights({"b": 5.0}, ["a", "b"], ym).tolist() == [1.0, 5.0]


@pytest.mark.parametrize(
    ("train", "task", "message"),
    [
        ({"loss": {"name": "bce"}}, "single_label", "bce does not apply to single_label"),
        ({"loss": {"name": "cross_entropy"}}, "multi_label", "cross_entropy does not apply"),
        ({"loss": {"name": "mse"}}, "single_label", "mse does not apply to single_label"),
        ({"loss": {"name": "bce"}}, "regression", "bce does not apply to regression"),
        ({"class_weights": "balanced"}, "multi_label", "class_weights is for single-label"),
        ({"class_weights": "balanced"}, "regression", "class_weights is for single-label"),
        ({"loss": {"pos_weight": "balanced"}}, "single_label", "pos_weight applies to bce"),
        ({"siamese": {"enabled": True}}, "multi_label", "siamese needs single-label"),
    ],
)
def test_losses_that_cannot_serve_the_task_are_errors(train, task, message):
    y = np.zeros((4, 2), dtype=np.float32) if task == "multi_label" else np.array([0, 1, 0, 1])
    y = y.astype(np.float32) if task == "regression" else y
    with pytest.raises(ConfigError, match=message):
        build_loss(TrainConfig(**train), task, ["a", "b"], y)


def test_pos_weight_with_a_loss_that_ignores_it_is_an_error():
    y = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ConfigError, match="pos_weight applies to bce"):
        build_loss(
            TrainConfig(loss={"name": "focal", "pos_weight": "balanced"}),
            "multi_label",
            ["a", "b"],
            y,
        )
