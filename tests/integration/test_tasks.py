"""Training options of issue #4 that need a run: layer-wise learning rates and gradual
unfreezing end to end, task-dependent option checks once the data is read, and the doctor on
a BiLSTM and on multi-label data. Their units are tested in tests/unit/ (test_tokenizers,
test_losses, test_thresholds, test_layer_groups, test_training_loop, test_batching,
test_windows, test_data, test_config)."""

from pathlib import Path

import pytest

from textclass.config.load import load_config
from textclass.errors import ConfigError


def test_unfreezing_and_lr_decay_train_end_to_end(tiny_config):
    import textclass

    result = textclass.train(
        tiny_config(
            "train.epochs=3",
            "train.unfreeze_layers_per_epoch=1",
            "train.layer_lr_decay=0.8",
            "data.max_samples=32",
        ),
        report=False,
    )
    assert len(result.history) == 3
    with pytest.raises(ConfigError, match="unfreeze_layers_per_epoch needs model.freeze=none"):
        textclass.train(
            tiny_config("train.unfreeze_layers_per_epoch=1", "model.freeze=encoder"), report=False
        )


def test_logged_learning_rate_is_the_heads_with_layer_wise_decay(tiny_config):
    import textclass

    result = textclass.train(
        tiny_config("train.max_steps=2", "train.layer_lr_decay=0.5", "train.scheduler=constant"),
        report=False,
    )
    assert result.history[-1]["lr"] == pytest.approx(1e-3)  # tiny_config's lr, not 1e-3 / 8


def test_doctor_runs_for_bilstm_and_multi_label(tiny_config, tiny_model_dir, tmp_path):
    from textclass.diagnosis.doctor import doctor

    bilstm = tiny_config("model.architecture=bilstm", "train.lr=1e-2", "model.bilstm.dropout=0")
    checks = {c.name: c for c in doctor(bilstm, steps=80)}
    assert checks["can overfit a few batches"].status == "pass"
    # Random starting features cannot be probed: said, not failed.
    assert checks["loss responds to the labels"].status == "warn"
    cfg = load_config(
        Path(__file__).parents[2] / "configs" / "trec_multilabel.yaml",
        ["data.max_samples=200", f"model.name={tiny_model_dir}", "train.precision=fp32"],
    )
    names = {c.name for c in doctor(cfg, steps=5)}
    assert "can overfit a few batches" in names and "batches follow the label mix" not in names


def test_task_dependent_options_are_checked_once_the_data_is_read(tiny_config):
    import textclass

    with pytest.raises(ConfigError, match="f1_micro does not apply to single_label"):
        textclass.train(tiny_config("train.metric=f1_micro"), report=False)
