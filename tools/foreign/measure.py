"""Count what modelpack does with each file of tests/data/foreign, for docs/foreign-files.md.

    python tools/foreign/measure.py --cache /tmp/foreign-rows.pkl      # this checkout
    PYTHONPATH=/path/to/old/checkout python tools/foreign/measure.py --label before --cache /tmp/foreign-rows.pkl

The first run writes the rows and the runtimes' outputs to the cache (it needs this
checkout's PMML reader to draw rows); a run against an older checkout reads them.

Each file is scored by modelpack and by its own runtime on the same rows (as the suite does),
and its ``modelpack info`` and ``modelpack verify`` are run through the CLI. Outcomes:

- equal: modelpack's predictions are the runtime's;
- differs: they are not;
- refused: one line (a ModelpackError) naming the cause;
- crash: any other exception, which the CLI would show as a traceback.

``info`` is counted as describing a file when it names a model type and the file's inputs
(or, for pickles, its estimator class) without loading it.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "foreign"


def outcome(path: Path, rows, expected) -> str:
    import modelpack
    from modelpack.errors import ModelpackError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = modelpack.load(path)
            predicted = np.asarray(model.predict(rows))
    except ModelpackError:
        return "refused"
    except Exception:
        return "crash"
    if expected is None:
        return "equal"
    try:
        wanted = np.asarray(expected, dtype=predicted.dtype if predicted.dtype != object else object)
        if predicted.dtype.kind in "fc":
            same = np.allclose(predicted.reshape(-1), np.asarray(expected, dtype=float).reshape(-1), rtol=1e-6,
                               atol=1e-6, equal_nan=True)
        else:
            same = [_text(v) for v in predicted.reshape(-1)] == [_text(v) for v in wanted.reshape(-1)]
    except (TypeError, ValueError):
        same = False
    return "equal" if same else "differs"


def _text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "missing"
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value).lower() if str(value).lower() in ("true", "false") else str(value)


def runtime_outputs(path: Path, rows):
    """What the file's own runtime predicts (None when it cannot score the file)."""
    from foreign.outcomes import expected_of

    if path.suffix in (".xml", ".pmml"):
        from jpmml_evaluator import make_evaluator

        from modelpack.formats.pmml._describe import describe_document

        try:
            frame = make_evaluator(str(path), backend="jpype").evaluateAll(rows)
        except Exception:
            return None
        if "errors" in frame.columns and frame["errors"].notna().any():
            return None
        target = describe_document(path).target
        return frame[target if target in frame.columns else frame.columns[0]].tolist()
    recorded = expected_of(path)
    return recorded["predict"] if recorded else None


def info_describes(path: Path) -> bool:
    from click.testing import CliRunner

    from modelpack.cli import cli

    result = CliRunner().invoke(cli, ["info", str(path), "--json"])
    if result.exit_code != 0:
        return False
    info = json.loads(result.output)
    if info.get("model_type") in (None, "unknown"):
        return False
    details = info.get("details") or {}
    return bool(details.get("inputs") or info.get("estimators") or info.get("globals"))


def verify_useful(path: Path) -> bool:
    """verify either runs what the file carries or says in one line there is nothing, without a traceback."""
    from click.testing import CliRunner

    from modelpack.cli import cli

    result = CliRunner().invoke(cli, ["verify", str(path)])
    return result.exception is None or isinstance(result.exception, SystemExit) and (
        result.exit_code == 0 or result.output.startswith("Error: ") and result.output.count("\n") == 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after")
    parser.add_argument("--cache", type=Path, required=True, help="rows and runtime outputs (written if absent)")
    args = parser.parse_args()
    manifest = json.loads((CORPUS / "MANIFEST.json").read_text())["files"]
    if args.cache.exists():
        cases = pickle.loads(args.cache.read_bytes())  # written by this script, on this machine
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from foreign.outcomes import rows_of

        cases = {}
        for entry in manifest:
            rows = rows_of(CORPUS / entry["file"])
            cases[entry["file"]] = (rows, runtime_outputs(CORPUS / entry["file"], rows))
        args.cache.write_bytes(pickle.dumps(cases))
    counts: dict[str, dict[str, int]] = {}
    for entry in manifest:
        path = CORPUS / entry["file"]
        kind = entry["file"].split("/")[0]
        rows, expected = cases[entry["file"]]
        result = outcome(path, rows, expected)
        tally = counts.setdefault(kind, {})
        tally[result] = tally.get(result, 0) + 1
        tally["info describes"] = tally.get("info describes", 0) + info_describes(path)
        tally["verify answers"] = tally.get("verify answers", 0) + verify_useful(path)
        tally["files"] = tally.get("files", 0) + 1
    print(json.dumps({args.label: counts}, indent=1))


if __name__ == "__main__":
    main()
