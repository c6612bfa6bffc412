"""The `textclass` command: a thin adapter over the importable functions in
`textclass.workflows`. Process-wide settings (allocator, threads) are applied here, by the
commands that run a model, or by the functions that are entry points themselves (`train`,
`serve`).

Errors the user can fix (`TextclassError`) are printed as one paragraph with exit code 2 and no
traceback; `--debug` shows the traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from textclass.errors import TextclassError, TrainingInterrupted
from textclass.workflows import rundir

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, evaluate and use text classifiers from one config file.",
)
_state = {"debug": False}


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(message)s" if debug else "%(message)s",
        stream=sys.stderr,
    )
    for noisy in ("accelerate", "transformers", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command(context_settings={"allow_extra_args": False})
def train(
    config: Annotated[
        Path | None,
        typer.Argument(
            help="YAML config, or a data file (CSV, TSV, JSON(L), Parquet) to train on with the "
            "default config. Optional: overrides alone (data.train=my.csv) run on the defaults."
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value overrides, e.g. train.lr=3e-5")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Run directory.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the interrupted run in this directory.")
    ] = None,
) -> None:
    """Train, evaluate on validation and test, and save the model and metrics.

    No config file needed: `textclass train my.csv` trains on my.csv with the defaults.
    """
    from textclass.config.load import train_arguments
    from textclass.workflows.train import train as run_train

    if config is None and not overrides and resume is None:
        raise TextclassError(
            "nothing to train on. `textclass train my.csv` trains on a labelled file (columns "
            "`text` and `label`) with the default config; `textclass train config.yaml` uses a "
            "config (`textclass init --data my.csv` writes a commented one); `--resume RUN_DIR` "
            "continues an interrupted run."
        )
    config, overrides = train_arguments(config, overrides or [])
    result = run_train(config, overrides, output=output, overwrite=overwrite, resume=resume)
    from textclass.config.tasks import get_task

    test = result.metrics["test"]
    typer.echo(
        f"\nrun directory: {result.run_dir}\n"
        f"test {get_task(test.get('task')).summary_line(test)}\n"
        f"model: {result.model_dir}"
    )


@app.command(context_settings={"allow_extra_args": False})
def cv(
    config: Annotated[
        Path | None,
        typer.Argument(help="YAML config, or a data file to cross-validate with the defaults."),
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value overrides, e.g. train.lr=3e-5")
    ] = None,
    folds: Annotated[int, typer.Option("--folds", "-k", help="Number of folds.")] = 5,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="CV directory (default: output.dir/NAME-cv)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing CV directory.")] = False,
) -> None:
    """k-fold cross-validation: one run per fold, out-of-fold predictions for every row, mean ±
    std and pooled metrics. Running it again continues with the folds not yet done."""
    from textclass.config.load import train_arguments
    from textclass.workflows.crossval import cross_validate

    if config is None and not overrides:
        raise TextclassError("nothing to cross-validate: `textclass cv config.yaml --folds 5`.")
    config, overrides = train_arguments(config, overrides or [])
    result = cross_validate(config, overrides, folds=folds, output=output, overwrite=overwrite)
    summary, metric = result.summary, result.summary["metric"]
    pooled = summary["pooled"]
    interval = pooled.get("intervals", {}).get(metric)
    typer.echo(
        f"\ncross-validation: {result.cv_dir}\n"
        f"{metric} over {folds} folds: {summary['mean'][metric]:.4f} ± "
        f"{summary['std'][metric]:.4f}; pooled out-of-fold {pooled[metric]:.4f}"
        + (f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else "")
        + f"\nreport: {result.cv_dir / rundir.CV_REPORT['md']}"
    )


@app.command(context_settings={"allow_extra_args": False})
def audit(
    config: Annotated[
        Path | None,
        typer.Argument(help="YAML config, or a data file to audit with the defaults."),
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value overrides, e.g. data.leakage=drop")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Audit directory (default: output.dir/NAME-audit)."),
    ] = None,
    export_issues: Annotated[
        Path | None,
        typer.Option(
            help="Write every flagged row to this CSV (split, row, text, label, issue, "
            "suggested_label, score, ...) for a person to relabel."
        ),
    ] = None,
    oof: Annotated[
        Path | None,
        typer.Option(
            help="Label errors from a `textclass cv` directory (or its "
            "oof_predictions.csv) instead of a TF-IDF model."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing audit directory / issues file.")
    ] = False,
) -> None:
    """Audit the data before training: class balance, lengths, duplicates and near-duplicates
    within and across splits, label conflicts, likely label errors, odd texts."""
    from textclass.config.load import train_arguments
    from textclass.workflows.audit import audit as run_audit

    if config is None and not overrides:
        raise TextclassError("nothing to audit: `textclass audit config.yaml` (or a data file).")
    config, overrides = train_arguments(config, overrides or [])
    result = run_audit(
        config, overrides, output=output, export_issues=export_issues, oof=oof,
        overwrite=overwrite,
    )  # fmt: skip
    typer.echo("\n" + summary_lines(result.report))
    written = ", ".join(str(p) for p in result.paths.values())
    typer.echo(f"wrote {written}")


def summary_lines(report: dict) -> str:
    """The audit in a few lines for the console."""
    d, e = report["duplicates"], report["label_errors"]
    leak = d["leakage"]
    held = ", ".join(f"{s} {leak[s]['held_out_texts']}" for s in ("validation", "test"))
    lines = [
        f"leakage: {leak['train_rows']} training rows equal or near to held-out texts ({held})",
        "duplicates within splits: "
        + ", ".join(f"{s} {v['pairs']}" for s, v in d["duplicates"].items()),
    ]
    conflicts = d["label_conflicts"]
    if "pairs" in conflicts:
        lines.append(f"label conflicts: {conflicts['pairs']} pairs")
    lines.append(
        f"likely label errors: {e['flagged']} of {e['rows']} rows"
        if "flagged" in e
        else f"likely label errors: not checked ({e['skipped']})"
    )
    lines.append(
        "texts to look at: " + ", ".join(f"{k} {sum(v.values())}" for k, v in d["texts"].items())
    )
    return "\n".join(lines)


@app.command(context_settings={"allow_extra_args": False})
def tune(
    config: Annotated[
        Path | None,
        typer.Argument(help="YAML config (its `search:` section), or a data file, to search."),
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value overrides, e.g. train.epochs=3")
    ] = None,
    trials: Annotated[
        int, typer.Option("--trials", "-n", min=1, help="Trials in the whole study.")
    ] = 20,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="This worker asks no new trial after S seconds.")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            help="RDB URL (postgresql://..., mysql://..., sqlite:///...) for workers "
            "on many machines; default: a journal file in the study directory."
        ),
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="Study name (default: the config's name).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Study directory (default: output.dir/NAME-tune)."),
    ] = None,
    cv: Annotated[
        int | None, typer.Option("--cv", min=2, help="Objective: the mean over K folds.")
    ] = None,
    show: Annotated[
        Path | None, typer.Option(help="Print the leaderboard of this study directory.")
    ] = None,
) -> None:
    """Hyper-parameter search with Optuna: the objective is train.metric on validation, trials
    the pruner rejects stop early, the best model and config are kept. Run the same command in
    several processes to share one study; run it again to continue an interrupted one."""
    from textclass.workflows.search import show_study
    from textclass.workflows.search import tune as run_tune

    if show is not None:
        typer.echo(show_study(show, storage))
        return
    if config is None and not overrides:
        raise TextclassError(
            "nothing to search: `textclass tune config.yaml --trials 20`, or "
            "`textclass tune --show STUDY_DIR` for a study's leaderboard."
        )
    from textclass.config.load import train_arguments
    from textclass.workflows.search import require_optuna

    optuna = require_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours
    config, overrides = train_arguments(config, overrides or [])
    result = run_tune(
        config, overrides, trials=trials, timeout=timeout, storage=storage, study=study,
        output=output, cv=cv,
    )  # fmt: skip
    typer.echo("\n" + show_study(result.study_dir, storage))
    typer.echo(
        f"\nstudy directory: {result.study_dir}\nbest run: {result.best_run_dir}\n"
        f"best config: {result.best_config} (textclass train {result.best_config})\n"
        f"report: {result.study_dir / rundir.STUDY_REPORT['md']}"
    )


@app.command()
def init(
    path: Annotated[
        Path | None,
        typer.Argument(help="Config file to write (default: DATA's name + .yaml, or config.yaml)."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="Training file to put in data.train.")
    ] = None,
) -> None:
    """Write a commented YAML config: every key with its default and what it does."""
    from textclass.config.reference import write_starter_config

    target = write_starter_config(path, data)
    typer.echo(f"wrote {target}; edit it, then: textclass train {target}")


@app.command()
def evaluate(
    model_dir: Annotated[Path, typer.Argument(help="A model directory (runs/NAME/model).")],
    data: Annotated[
        Path, typer.Option("--data", "-d", help="Labelled CSV/TSV/JSON(L)/Parquet file.")
    ],
    text_column: Annotated[str | None, typer.Option(help="Default: the training column.")] = None,
    text_pair_column: Annotated[str | None, typer.Option()] = None,
    label_column: Annotated[str | None, typer.Option(help="Default: the training column.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write metrics JSON here.")
    ] = None,
    predictions: Annotated[
        Path | None, typer.Option(help="Write per-row predictions CSV here.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    encoding: Annotated[str, typer.Option()] = "utf-8",
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
) -> None:
    """Metrics of a trained model on any labelled file."""
    from textclass.config.tasks import get_task
    from textclass.runtime import configure_process
    from textclass.workflows.evaluate import describe_rows, evaluate_model

    _check_outputs([output, predictions], overwrite, data)
    if predictions is not None and predictions.suffix.lower() != ".csv":
        raise TextclassError(f"--predictions {predictions}: the file is CSV; name it *.csv.")
    configure_process()

    metrics, preds = evaluate_model(
        model_dir,
        data,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        batch_size=batch_size,
        encoding=encoding,
    )
    typer.echo(describe_rows(metrics["rows"]))
    typer.echo(get_task(metrics.get("task")).summary_line(metrics))
    for label, row in metrics["per_class"].items():
        typer.echo(
            f"  {label:>20}  precision {row['precision']:.3f}  recall {row['recall']:.3f}  "
            f"F1 {row['f1']:.3f}  support {row['support']}"
        )
    if output:
        output.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    if predictions:
        preds.to_csv(predictions, index=False)


@app.command()
def robustness(
    model_dir: Annotated[Path, typer.Argument(help="A model directory (runs/NAME/model).")],
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            "-d",
            help="Labelled data file, or a YAML config whose data is split as in training "
            "(the run's config.yaml: its own split).",
        ),
    ],
    split: Annotated[
        str | None, typer.Option(help="With a config: the split to perturb (default test).")
    ] = None,
    perturbations: Annotated[
        list[str] | None,
        typer.Option(
            "--perturbations",
            "-p",
            help="Perturbations to run, comma-separated or repeated (default: all): "
            "typo, case, punctuation, whitespace, contractions, append, synonym, negation.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write robustness.json and robustness.md here."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Default: the model's training seed.")] = None,
    text_column: Annotated[str | None, typer.Option(help="Default: the training column.")] = None,
    text_pair_column: Annotated[str | None, typer.Option()] = None,
    label_column: Annotated[str | None, typer.Option(help="Default: the training column.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    encoding: Annotated[str, typer.Option()] = "utf-8",
    overwrite: Annotated[bool, typer.Option(help="Replace existing output files.")] = False,
) -> None:
    """Perturb labelled texts (typos, case, punctuation, ...) and measure how many predictions
    flip and how accuracy changes, with bootstrap intervals."""
    from textclass.runtime import configure_process
    from textclass.workflows.robustness import robustness as run_robustness
    from textclass.workflows.robustness import summary_line

    names = [n.strip() for item in perturbations or [] for n in item.split(",") if n.strip()]
    configure_process()
    record = run_robustness(
        model_dir, data, split=split, perturbations=names or None, seed=seed, output=output,
        overwrite=overwrite, batch_size=batch_size, text_column=text_column,
        text_pair_column=text_pair_column, label_column=label_column, encoding=encoding,
    )  # fmt: skip
    typer.echo(f"{record['rows']} rows of {record['data']}, seed {record['seed']}:")
    for label, one in [*record["perturbations"].items(), *record["expected_flip"].items()]:
        typer.echo(f"  {summary_line(label, one)}")
    for label, why in record["skipped"].items():
        typer.echo(f"  {label}: skipped: {why}")
    if output is not None:
        typer.echo(f"wrote {output / rundir.ROBUSTNESS} and {output / rundir.ROBUSTNESS_REPORT}")


def _check_outputs(targets: list[Path | None], overwrite: bool, source: Path) -> None:
    """Before any work: each output file can be written, and none replaces another's file,
    the data file (even with --overwrite) or an existing one (unless --overwrite)."""
    given = [t for t in targets if t is not None]
    if len({t.resolve() for t in given}) < len(given):
        raise TextclassError("the output files must differ; give each its own name.")
    for target in given:
        if target.is_dir():
            raise TextclassError(f"{target} is a folder; name a file in it.")
        if target.resolve() == source.resolve():
            raise TextclassError(f"{target} is the data file; write the output elsewhere.")
        if not target.parent.is_dir():
            raise TextclassError(f"{target.parent} is not a folder; create it first.")
        if target.exists() and not overwrite:
            raise TextclassError(f"{target} exists; choose another file name or pass --overwrite.")


@app.command()
def predict(
    model_dir: Annotated[Path, typer.Argument(help="A model directory (runs/NAME/model).")],
    input: Annotated[
        Path, typer.Option("--input", "-i", help="File of texts (any supported format).")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Predictions file (.csv or .jsonl).")
    ],
    text_column: Annotated[str | None, typer.Option(help="Default: the training column.")] = None,
    text_pair_column: Annotated[str | None, typer.Option()] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows read at a time.")] = 10_000,
    encoding: Annotated[str, typer.Option()] = "utf-8",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    group_by: Annotated[
        str | None,
        typer.Option(
            help="Also write OUTPUT.groups.csv: per value of this column, the count, "
            "share of each label and mean probabilities, ranked."
        ),
    ] = None,
    rank_by: Annotated[
        str | None,
        typer.Option(
            help="With --group-by: rank by this label's share (default: the first label)."
        ),
    ] = None,
) -> None:
    """Predict labels and probabilities for every row of a file, streaming it in chunks."""
    from textclass.runtime import configure_process
    from textclass.workflows.predict import predict_file

    configure_process()

    if group_by is not None:
        from textclass.workflows import summaries

        groups_file = summaries.prepare_group_summary(input, output, group_by, encoding, overwrite)
    n = predict_file(
        model_dir,
        input,
        output,
        text_column=text_column,
        text_pair_column=text_pair_column,
        batch_size=batch_size,
        chunk_size=chunk_size,
        encoding=encoding,
        overwrite=overwrite,
    )
    typer.echo(f"wrote {n} predictions to {output}")
    for note in n.notes():
        typer.echo(f"note: {note}", err=True)
    if group_by is not None:
        table = summaries.group_summary(
            output, group_by, groups_file, rank_by=rank_by, columns=n.columns
        )
        typer.echo(f"wrote {len(table)} {group_by} summaries to {groups_file}")
        excluded = int(table[summaries.EXCLUDED].sum())
        if excluded:
            typer.echo(
                f"note: {excluded} row(s) without a prediction or with unreadable probabilities "
                f"are left out of the summaries (counted per group in `{summaries.EXCLUDED}`).",
                err=True,
            )


@app.command()
def datasets() -> None:
    """List the bundled datasets with their sizes and labels."""
    from rich.console import Console
    from rich.table import Table

    from textclass.config.tasks import get_task
    from textclass.data import datasets as bundled

    table = Table(title="Bundled datasets (use as data.dataset=NAME)")
    for column in ("name", "rows", "labels", "description"):
        table.add_column(column, overflow="fold")
    for name, spec in bundled.REGISTRY.items():
        frame = bundled.load(name)
        target = frame[spec.label_column]
        if not get_task(spec.task).has_labels:  # a numeric target: its range, not its values
            shown = f"{spec.label_column}: {target.min():g} .. {target.max():g}"
        else:
            counts = target.value_counts()
            shown = ", ".join(f"{k} {v}" for k, v in counts.head(4).items())
            shown += f", ... ({len(counts)} labels)" if len(counts) > 4 else ""
        table.add_row(name, str(len(frame)), shown, spec.description)
    Console().print(table)
    typer.echo("Sources, citations and licences: textclass/data/bundled/PROVENANCE.md")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory (runs/NAME).")],
) -> None:
    """Write report.md, report.html and report.json for a finished run."""
    from textclass.reporting.build import write_report

    paths = write_report(run_dir)
    typer.echo(f"wrote {paths['md']}, {paths['html']} and {paths['json']}")


@app.command()
def doctor(
    config: Annotated[Path, typer.Argument(help="The YAML config to check.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="key=value overrides")] = None,
    steps: Annotated[
        int | None,
        typer.Option(min=1, help="Steps of the overfit check (default 40; multi-label 80)."),
    ] = None,
) -> None:
    """Sanity checks before a long run: trainable head, schedule, batches, overfitting."""
    from rich.console import Console
    from rich.table import Table

    from textclass.diagnosis.doctor import doctor as run_doctor

    checks = run_doctor(config, overrides, steps=steps)
    table = Table(title=f"textclass doctor {config}")
    for column in ("check", "result", "evidence"):
        table.add_column(column, overflow="fold")
    colour = {"pass": "green", "warn": "yellow", "fail": "red"}
    for c in checks:
        table.add_row(c.name, f"[{colour[c.status]}]{c.status.upper()}[/]", c.evidence)
    Console().print(table)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


@app.command()
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more finished run directories.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Markdown table file.")] = Path(
        rundir.COMPARISON["md"]
    ),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Side-by-side table of runs: config differences and metrics with 95% intervals."""
    from textclass.reporting.compare import compare_runs, render_comparison

    data = output.with_suffix(".json")  # the comparison as data, beside the table
    if data == output:
        raise TextclassError(f"--output {output}: name the Markdown table, e.g. comparison.md.")
    for target in (output, data):
        if target.exists() and not overwrite:
            raise TextclassError(f"{target} exists; choose another --output or pass --overwrite.")
    comparison = compare_runs(run_dirs)
    text = render_comparison(comparison)
    typer.echo(text)
    output.write_text(text, encoding="utf-8")
    data.write_text(json.dumps(comparison, indent=1), encoding="utf-8")
    typer.echo(f"wrote {output} and {data}")


@app.command()
def serve(
    model_dir: Annotated[
        Path, typer.Argument(help="A model directory (runs/NAME/model) or an ONNX export.")
    ],
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 exposes it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    backend: Annotated[
        str, typer.Option(help="torch, onnx (an exported directory) or auto.")
    ] = "auto",
    precision: Annotated[str, typer.Option(help="torch backend: auto, fp32 or bf16.")] = "auto",
    batching: Annotated[
        bool, typer.Option(help="Gather concurrent requests into shared forward passes.")
    ] = True,
    max_batch_size: Annotated[int, typer.Option(min=1, help="Texts gathered per pass.")] = 32,
    max_wait_ms: Annotated[
        float, typer.Option(min=0, help="How long a pass waits for more requests.")
    ] = 2.0,
    forward_batch_size: Annotated[
        int, typer.Option(min=1, help="Texts per forward call (a pass, sorted by length).")
    ] = 8,
    cache_size: Annotated[
        int, typer.Option(min=0, help="LRU cache of predictions by cleaned text; 0 = off.")
    ] = 0,
    max_texts: Annotated[int, typer.Option(min=1, help="Texts per request.")] = 256,
    max_chars: Annotated[int, typer.Option(min=1, help="Characters per text.")] = 10_000,
    request_timeout: Annotated[float, typer.Option(min=0.001, help="Seconds.")] = 30.0,
    api_key_file: Annotated[
        Path | None,
        typer.Option(help="File of API keys, one a line (or set TEXTCLASS_API_KEYS)."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="Inference threads (default: all cores but one).")
    ] = None,
) -> None:
    """Serve a model over HTTP (POST /v1/predict, GET /v1/model, /health, /ready, /metrics)."""
    from textclass.serving.app import serve as run_server
    from textclass.serving.settings import ServeSettings, load_api_keys

    settings = ServeSettings(
        model_dir=model_dir,
        backend=backend,  # type: ignore[arg-type]
        precision=precision,
        host=host,
        port=port,
        batching=batching,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        forward_batch_size=forward_batch_size,
        cache_size=cache_size,
        max_texts=max_texts,
        max_chars=max_chars,
        request_timeout=request_timeout,
        api_keys=load_api_keys(api_key_file),
        log_level="warning" if logging.getLogger().level > logging.INFO else "info",
        threads=threads,
    )
    run_server(settings)


@app.command()
def ensemble(
    members: Annotated[
        list[Path],
        typer.Argument(help="Run directories, model directories or cross-validation directories."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The ensemble directory.")],
    method: Annotated[
        str,
        typer.Option(
            help="soft (mean of the models), weighted (weights fitted on validation or "
            "out-of-fold predictions) or stacking (logistic regression on out-of-fold "
            "predictions; cross-validation directories only)."
        ),
    ] = "soft",
    seed: Annotated[int, typer.Option(help="Seed of the stacker's inner folds.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output directory.")] = False,
) -> None:
    """Combine trained models into an ensemble directory (it references them, no copies)."""
    from textclass.workflows.ensemble import build_ensemble

    result = build_ensemble(members, method, output, overwrite=overwrite, seed=seed)
    typer.echo(result.summary())
    typer.echo(f"use it like a model directory: textclass predict {result.path} -i FILE -o OUT")


@app.command()
def export(
    model_dir: Annotated[Path, typer.Argument(help="A model directory (runs/NAME/model).")],
    format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    quantize: Annotated[
        str | None, typer.Option(help="int8: dynamic int8 weights (smaller, faster on CPU).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Default: MODEL_DIR-onnx[-int8].")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output directory.")] = False,
) -> None:
    """Export a model to ONNX (dynamic batch and sequence axes) with its tokenizer and labels."""
    from textclass.export.onnx import export_onnx

    if format != "onnx":
        raise TextclassError(f"--format {format!r}: only onnx is supported.")
    target = export_onnx(model_dir, output, quantize=quantize, overwrite=overwrite)
    diff = json.loads((target / rundir.MODEL_META).read_text(encoding="utf-8"))["export"][
        "max_prob_diff"
    ]
    typer.echo(
        f"exported to {target} ({quantize or 'fp32'}; max probability difference from "
        f"PyTorch {diff:.2e}). Serve it: textclass serve {target}"
    )


def main() -> None:
    try:
        code = app(standalone_mode=False)  # returns the code of a typer.Exit
        if isinstance(code, int) and code:
            sys.exit(code)
    except TextclassError as exc:
        if _state["debug"]:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(130 if isinstance(exc, TrainingInterrupted) else 2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors carry their own exit codes
        if not _is_usage_error(exc):
            raise
        exc.show()
        sys.exit(exc.exit_code)


def _is_usage_error(exc: Exception) -> bool:
    """Click's exceptions, whether from `click` or from the copy that typer vendors."""
    return any(c.__name__ == "ClickException" for c in type(exc).__mro__) and hasattr(exc, "show")


if __name__ == "__main__":
    main()
