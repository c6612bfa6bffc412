from pathlib import Path

import pytest

from textclass.config.load import load_config, parse_overrides
from textclass.config.schema import RunConfig, check_task_options
from textclass.errors import ConfigError

CONFIGS = sorted(Path(__file__).parents[2].joinpath("configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads_and_names_a_bundled_dataset(path):
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)
    assert cfg.name == path.stem
    from textclass.data import datasets

    datasets.get(cfg.data.dataset)  # raises if the config names an unknown dataset


def test_shipped_configs_exist():
    assert {p.stem for p in CONFIGS} >= {"rotten_tomatoes", "trec", "sms_spam"}


def test_overrides_are_typed_and_nested():
    cfg = load_config(
        "configs/rotten_tomatoes.yaml",
        ["train.lr=3e-5", "train.epochs=2", "model.num_layers=2", "data.train=my.csv"],
    )
    assert cfg.train.lr == pytest.approx(3e-5)
    assert cfg.train.epochs == 2
    assert cfg.model.num_layers == 2
    assert cfg.data.train == Path("my.csv")
    assert cfg.data.dataset == "rotten_tomatoes"  # kept, but data.train takes precedence


def test_every_problem_is_reported_at_once_with_did_you_mean():
    with pytest.raises(ConfigError) as info:
        load_config(
            "configs/rotten_tomatoes.yaml",
            ["train.lrr=1", "train.epochs=abc", "train.batch_size=-4", "model.nmae=x"],
        )
    problems = info.value.problems
    assert len(problems) == 4
    text = str(info.value)
    assert "unknown key `train.lrr`" in text and "Did you mean `lr`?" in text
    assert "`train.epochs`" in text and "'abc'" in text
    assert "`train.batch_size`" in text and "greater than 0" in text
    assert "Did you mean `name`?" in text
    assert "configs/rotten_tomatoes.yaml" in text


def test_unknown_section_lists_valid_keys():
    with pytest.raises(ConfigError, match="unknown key `trian`.*Did you mean `train`"):
        load_config(base={"data": {"dataset": "trec"}, "trian": {}})


def test_choice_fields_reject_free_strings():
    with pytest.raises(ConfigError, match="train.scheduler"):
        load_config(base={"data": {"dataset": "trec"}}, overrides=["train.scheduler=linaer"])


def test_a_run_needs_data():
    with pytest.raises(ConfigError, match="no training data"):
        load_config(base={"data": {}})


def test_unknown_metric_suggests_closest():
    with pytest.raises(ConfigError, match="Did you mean `f1_macro`"):
        load_config(base={"data": {"dataset": "trec"}}, overrides=["train.metric=f1_marco"])


def test_bad_override_syntax():
    _, problems = parse_overrides(["train.lr"])
    assert problems and "key=value" in problems[0]


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_config_round_trips_through_yaml(tmp_path):
    cfg = load_config("configs/trec.yaml", ["train.lr=2e-5"])
    path = tmp_path / "saved.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(path) == cfg


def test_overrides_keep_empty_strings_and_block_indicators():
    nested, problems = parse_overrides(["a.b=''", "a.c=|", "a.d=null", "a.e=,"])
    assert problems == [] and nested == {"a": {"b": "", "c": "|", "d": None, "e": ","}}


def test_window_config_is_checked():
    with pytest.raises(ConfigError, match="window.stride=40 must be at most half"):
        load_config(
            base={"data": {"train": "x.csv"}},
            overrides=[
                "model.max_length=64",
                "model.window.enabled=true",
                "model.window.stride=40",
            ],
        )
    with pytest.raises(ConfigError, match="embedding_dim=64"):
        load_config(
            base={"data": {"train": "x.csv"}},
            overrides=["model.bilstm.embeddings=glove-6b-50d", "model.bilstm.embedding_dim=64"],
        )
    cfg = load_config(
        base={"data": {"train": "x.csv"}}, overrides=["model.bilstm.embeddings=glove-6b-50d"]
    )
    assert cfg.model.bilstm.embedding_dim == 50


def test_options_that_do_not_apply_are_errors_not_silence():
    with pytest.raises(ConfigError, match=r"model.num_layers does not apply \(use model.bilstm"):
        load_config(
            base={"data": {"train": "x.csv"}},
            overrides=["model.architecture=bilstm", "model.num_layers=2"],
        )


def test_gradient_checkpointing_with_bilstm_is_a_config_error(write_yaml):
    path = write_yaml(
        {"model": {"architecture": "bilstm"}, "train": {"gradient_checkpointing": True}}
    )
    with pytest.raises(ConfigError, match="gradient_checkpointing"):
        load_config(path)


def test_task_dependent_options_are_checked_against_the_task():
    cfg = load_config(base={"data": {"train": "x.csv"}}, overrides=["train.siamese.enabled=true"])
    with pytest.raises(ConfigError, match="siamese needs single-label data"):
        check_task_options(cfg, "multi_label")


def test_a_saved_bilstm_config_loads_again(tmp_path):
    """config.yaml of a BiLSTM run (what `train --resume` reads) writes every default back,
    attention_dropout's 0.0 included: it must load, and a value the BiLSTM cannot use must not."""
    shipped = Path(__file__).resolve().parents[2] / "configs" / "rotten_tomatoes_bilstm.yaml"
    cfg = load_config(shipped)
    saved = tmp_path / "config.yaml"
    saved.write_text(cfg.to_yaml())
    assert load_config(saved).to_dict() == cfg.to_dict()
    with pytest.raises(ConfigError, match="model.attention_dropout does not apply"):
        load_config(shipped, ["model.attention_dropout=0.1"])
