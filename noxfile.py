"""Sessions people run: `nox -s tests`, `lint`, `typecheck`, `docs`, `bench`."""

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "modelpack", "tests", "benchmarks", "examples", "tools")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("mypy")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site into site/ (strict: a broken link or reference fails); open site/index.html."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session(python="3.11")
def conformance(session: nox.Session) -> None:
    """Every estimator through every format: rewrites docs/conformance.md (about 20 minutes)."""
    session.install("-e", ".[test]")
    session.run("python", "tools/conformance.py", *session.posargs)


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Every benchmark; bench_serve needs wrk (apt-get install wrk)."""
    session.install("-e", ".[test]")
    for script in ("bench_import.py", "bench_formats.py", "bench_safe_load.py", "bench_onnx.py", "bench_pmml.py",
                   "bench_predict.py", "bench_serve.py"):
        session.run("python", f"benchmarks/{script}", *session.posargs)
