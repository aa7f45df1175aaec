"""modelpack doctor: what this machine can do."""

from __future__ import annotations

import click

from ._output import print_json, table


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--classpath", is_flag=True,
              help="Print the Java classpath of the JPMML-Evaluator jars PMML is scored with, for javac/java -cp.")
def command(as_json: bool, classpath: bool) -> None:
    """Show the usable formats, library versions, the Java PMML uses and the JPMML jar versions.

    \b
    Example:
      modelpack doctor
      javac -cp "$(modelpack doctor --classpath)" Score.java
    """
    if classpath:
        import os

        from ..formats.pmml._java import evaluator_classpath

        click.echo(os.pathsep.join(evaluator_classpath()))
        return
    from ..doctor import diagnose

    report = diagnose()
    if as_json:
        print_json(report)
        return
    rows = [["modelpack", report["modelpack"]], ["python", report["python"]]]
    rows += [[f"format {n}", "usable" if f["usable"] else f"missing {', '.join(f['missing'])}"]
             for n, f in report["formats"].items()]
    rows += [[name, v or "not installed"] for name, v in report["libraries"].items()]
    java = report["java"]
    rows.append(["java", java.get("error") or f"{java['version']} at {java['home']} (from {java['source']})"])
    if java.get("libjvm"):
        rows.append(["libjvm", java["libjvm"]])
    for pkg, jars in report["jars"].items():
        rows += [[f"{pkg} jar {jar}", v] for jar, v in sorted(jars.items())]
    cache = report["pmml_cache"]
    rows.append(["PMML cache", cache["note"] if cache["folder"] is None else
                 f"{cache['folder']} ({cache['entries']} document{'' if cache['entries'] == 1 else 's'}, "
                 f"{cache['bytes'] / 2**20:.1f} MiB)"])
    table("modelpack doctor", 2, rows)
