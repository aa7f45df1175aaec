"""modelpack predict: score a data file in batches, in constant memory."""

from __future__ import annotations

import sys

import click

from ..batch import predict_file
from ..core import load_cooperative
from ._options import DATA_PATH, trust


@click.command("predict")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", required=True, type=DATA_PATH, help="CSV, Parquet, JSON lines or .npy rows to score.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Where to write (.csv, .parquet, .jsonl); default: CSV on stdout.")
@click.option("--proba", is_flag=True, help="Add one proba_<class> column per class.")
@click.option("--batch-size", type=click.IntRange(min=1), default=10_000, show_default=True, help="Rows per batch.")
@click.option("--force", is_flag=True, help="Overwrite the output if it exists.")
@trust
def command(file: str, data: str, output: str | None, proba: bool, batch_size: int, force: bool, trust: bool,
            max_memory: int | None) -> None:
    """Score every row of --data with FILE and write a prediction column (and class probabilities).

    \b
    Example:
      modelpack predict model.onnx --data big.csv -o scores.parquet --proba
    """
    # the reader thread parses the next batch while the model scores this one
    model = load_cooperative(file, trust=trust, max_memory=max_memory)
    if output is None or not sys.stderr.isatty():
        rows = predict_file(model, data, output, proba=proba, batch_size=batch_size, overwrite=force)
    else:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.completed:,} rows scored"), TimeElapsedColumn(),
                      transient=True) as progress:
            task = progress.add_task("predict", total=None)
            rows = predict_file(model, data, output, proba=proba, batch_size=batch_size, overwrite=force,
                                on_batch=lambda n: progress.advance(task, n))
    if output is not None:
        click.echo(f"wrote {rows:,} predictions to {output}", err=True)
