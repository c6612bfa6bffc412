"""The `textclass` command: a thin adapter over the importable functions in `textclass.run`.

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

from textclass.errors import TextclassError

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
        Path | None, typer.Argument(help="YAML config (optional with --resume).")
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
    """Train, evaluate on validation and test, and save the model and metrics."""
    from textclass.run import train as run_train

    if config is not None and "=" in str(config) and not Path(config).exists():
        overrides = [str(config), *(overrides or [])]
        config = None
    if config is None and resume is None:
        raise TextclassError(
            "give a config file (e.g. configs/rotten_tomatoes.yaml) or --resume RUN_DIR."
        )
    result = run_train(config, overrides, output=output, overwrite=overwrite, resume=resume)
    test = result.metrics["test"]
    typer.echo(
        f"\nrun directory: {result.run_dir}\n"
        f"test accuracy {test['accuracy']:.4f}, macro-F1 {test['f1_macro']:.4f} (n={test['n']})\n"
        f"model: {result.model_dir}"
    )


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
) -> None:
    """Metrics of a trained model on any labelled file."""
    from textclass.evaluation import summary_line
    from textclass.run import evaluate_model

    metrics, preds = evaluate_model(
        model_dir,
        data,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        batch_size=batch_size,
        encoding=encoding,
    )
    for target in (output, predictions):
        if target is not None and target.exists():
            raise TextclassError(f"{target} exists; choose another file name.")
    typer.echo(summary_line(metrics))
    for label, row in metrics["per_class"].items():
        typer.echo(
            f"  {label:>20}  precision {row['precision']:.3f}  recall {row['recall']:.3f}  "
            f"F1 {row['f1']:.3f}  support {row['support']}"
        )
    if output:
        output.write_text(json.dumps(metrics, indent=2))
    if predictions:
        preds.to_csv(predictions, index=False)


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
) -> None:
    """Predict labels and probabilities for every row of a file, streaming it in chunks."""
    from textclass.run import predict_file

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


@app.command()
def datasets() -> None:
    """List the bundled datasets with their sizes and labels."""
    from rich.console import Console
    from rich.table import Table

    from textclass import datasets as bundled

    table = Table(title="Bundled datasets (use as data.dataset=NAME)")
    for column in ("name", "rows", "labels", "description"):
        table.add_column(column, overflow="fold")
    for name, spec in bundled.REGISTRY.items():
        frame = bundled.load(name)
        counts = frame[spec.label_column].value_counts()
        shown = ", ".join(f"{k} {v}" for k, v in counts.head(4).items())
        more = f", ... ({len(counts)} labels)" if len(counts) > 4 else ""
        table.add_row(name, str(len(frame)), shown + more, spec.description)
    Console().print(table)
    typer.echo("Sources, citations and licences: textclass/bundled/PROVENANCE.md")


def main() -> None:
    try:
        app(standalone_mode=False)
    except TextclassError as exc:
        if _state["debug"]:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors carry their own exit codes
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
