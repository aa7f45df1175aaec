"""modelpack convert: write a model in another format and prove it predicts the same."""

from __future__ import annotations

import click

from ._options import DATA_PATH, FormatChoice, accept_missing, as_json, tolerances, trust
from ._output import print_report


@click.command("convert")
@click.argument("src", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "dst", required=True, type=click.Path(dir_okay=False), help="The file to write.")
@click.option("--to", "to", type=FormatChoice(), help="Format to write (default: from the output's extension).")
@click.option("--data", type=DATA_PATH, help="CSV, Parquet, JSON lines or .npy rows to check on.")
@tolerances
@click.option("--precision", type=click.Choice(["auto", "float", "double"]),
              help="ONNX: float32, float64, or auto (default): float32 unless it changes the outputs on the sample rows.")
@click.option("--target-opset", type=int, help="ONNX: main opset for old runtimes.")
@accept_missing
@trust
@click.option("--force", is_flag=True, help="Overwrite the output if it exists.")
@click.option("--no-check", is_flag=True, help="Write without checking the result.")
@as_json
def command(src: str, dst: str, to: str | None, data: str | None, rtol: float | None, atol: float | None,
            min_agreement: float, precision: str | None, target_opset: int | None, accept_missing: tuple[str, ...], trust: bool,
            max_memory: int | None, force: bool,
            no_check: bool, as_json: bool) -> None:
    """Convert SRC to another format and check that it predicts what SRC does.

    The check runs on --data, else on the sample rows recorded in SRC, else on rows
    synthesized from SRC's input schema. Exit 0 when the check passed, 1 when it failed
    (the written file is kept so it can be inspected).

    \b
    Examples:
      modelpack convert model.joblib -o model.onnx
      modelpack convert model.joblib -o model.onnx --precision double --data test.csv
    """
    from ..convert import convert

    options = {k: v for k, v in {"precision": precision, "target_opset": target_opset}.items() if v is not None}
    result = convert(src, dst, to=to, data=data, rtol=rtol, atol=atol, min_agreement=min_agreement,
                     accept_missing=accept_missing,
                     trust=trust, max_memory=max_memory, overwrite=force, check_result=not no_check, **options)
    if result.report is None:
        click.echo(f"wrote {result.path} ({result.format}); not checked (--no-check)")
        return
    print_report(result.report, as_json)
    choice = result.metadata.extra.get("precision_choice") if result.metadata else None
    if choice and not as_json:
        click.echo(f"precision: {choice}")
    if not result.passed:
        raise click.ClickException(f"{result.path} was written but does not predict what {src} does (see the report above)")
    if not as_json:
        click.echo(f"wrote {result.path} ({result.format})")

