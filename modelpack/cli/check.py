"""modelpack check: compare any two model files on the same rows."""

from __future__ import annotations

import click

from ._options import DATA_PATH, accept_missing, as_json, tolerances, trust
from ._output import print_report


@click.command("check")
@click.argument("a", type=click.Path(exists=True, dir_okay=False))
@click.argument("b", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", type=DATA_PATH, help="CSV, Parquet, JSON lines or .npy rows to compare on.")
@tolerances
@accept_missing
@trust
@as_json
def command(a: str, b: str, data: str | None, rtol: float | None, atol: float | None, min_agreement: float,
            accept_missing: tuple[str, ...], trust: bool, max_memory: int | None, as_json: bool) -> None:
    """Check that model files A and B predict the same (exit 1 when they do not).

    Rows come from --data, else from A's recorded sample rows, else from its schema.

    \b
    Example:
      modelpack check model.joblib model.onnx --data test.csv --json
    """
    from ..check import check
    from ..convert import check_data
    from ..core import load

    model_a, model_b = load(a, trust=trust, max_memory=max_memory), load(b, trust=trust, max_memory=max_memory)
    X, origin = check_data(model_a, data)
    report = check(model_a, model_b, X, rtol=rtol, atol=atol, min_agreement=min_agreement, data_source=origin,
                   accept_missing=accept_missing)
    print_report(report, as_json)
    if not report.passed:
        raise click.exceptions.Exit(1)
