"""modelpack predict: score a data file in batches, in constant memory, here or on Spark or Dask."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ._options import trust


@click.command("predict")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", required=True, metavar="PATH",
              help="CSV, Parquet, JSON lines, .npy or .npz rows to score, or a folder of images (for a model saved "
                   "with preprocess=); with --engine, Parquet or CSV files (a folder or a glob).")
@click.option("-o", "--output", help="Where to write (.csv, .parquet, .jsonl; default: CSV on stdout). With "
              "--engine: a folder of Parquet files, the input's columns beside the outputs.")
@click.option("--proba", is_flag=True, help="Add one proba_<class> column per class.")
@click.option("--batch-size", type=click.IntRange(min=1), default=10_000, show_default=True, help="Rows per batch.")
@click.option("--force", is_flag=True, help="Overwrite the output if it exists.")
@click.option("--engine", type=click.Choice(["local", "spark", "dask"]), default="local", show_default=True,
              help="Score here, or on a Spark or Dask cluster (each worker loads and checks the model once).")
@click.option("--master", help="Spark master URL, e.g. local[4] or spark://host:7077 (default: Spark's own).")
@click.option("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes of the local Dask cluster.")
@trust
def command(file: str, data: str, output: str | None, proba: bool, batch_size: int, force: bool, engine: str,
            master: str | None, scheduler: str | None, workers: int, trust: bool, max_memory: int | None) -> None:
    """Score every row of --data with FILE and write a prediction column (and class probabilities).

    \b
    Examples:
      modelpack predict model.onnx --data big.csv -o scores.parquet --proba
      modelpack predict model.onnx --data 'events/*.parquet' -o scored/ --engine spark --master local[4]
    """
    if engine != "local":
        _on_cluster(file, data, output, proba, force, engine, master, scheduler, workers, trust, max_memory)
        return
    if not Path(data).exists():
        raise click.BadParameter(f"{data}: no such file or folder", param_hint="'--data'")
    from ..batch import predict_file
    from ..core import load_cooperative

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
        click.echo(f"wrote {rows:,} prediction{'' if rows == 1 else 's'} to {output}", err=True)


def _on_cluster(file: str, data: str, output: str | None, proba: bool, force: bool, engine: str,
                master: str | None, scheduler: str | None, workers: int, trust: bool, max_memory: int | None) -> None:
    if output is None:
        raise click.UsageError(f"--engine {engine} writes a folder of Parquet files: give it with -o/--output")
    debug = bool(click.get_current_context().meta.get("modelpack.debug"))
    if engine == "spark":
        from ..spark import predict_files as on_spark

        rows = on_spark(file, data, output, proba=proba, trust=trust, master=master, overwrite=force,
                        max_memory=max_memory, log_level="WARN" if debug else "OFF")
    else:
        from ..dask import predict_files as on_dask

        rows = on_dask(file, data, output, proba=proba, trust=trust, scheduler=scheduler, workers=workers,
                       overwrite=force, max_memory=max_memory, quiet=not debug)
    click.echo(f"wrote {rows:,} prediction{'' if rows == 1 else 's'} to {output}/ ({engine})", err=True)
