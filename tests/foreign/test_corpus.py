"""Files other tools wrote (tests/data/foreign): scored as their own runtime scores them, or refused in one line.

Each file is scored twice on the same rows: by modelpack, and by the runtime the file was
made for, called directly (JPMML-Evaluator's ``evaluateAll``, an onnxruntime session, the
scikit-learn that pickled it through its recorded outputs). A file the manifest says
modelpack refuses must be refused with that reason, and its runtime must fail on it too.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import modelpack
from modelpack.cli import cli
from modelpack.errors import ModelpackError, UnsupportedModelError

from .outcomes import expected_of, outcome_of, rows_of, without_name

CORPUS = Path(__file__).resolve().parents[1] / "data" / "foreign"
MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())["files"]
LICENCES = {"MIT", "BSD-2-Clause", "Apache-2.0", "Apache-2.0 (this repository)"}


def entries(kind: str, expect: str | None = None) -> list[Any]:
    chosen = [e for e in MANIFEST if e["file"].startswith(kind + "/") and (expect is None or e["expect"] == expect)]
    return [pytest.param(e, id=e["file"]) for e in chosen]


def load(entry: dict[str, Any]) -> modelpack.Model:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the version warning of old pickles is tested elsewhere
        return modelpack.load(CORPUS / entry["file"])


def test_the_manifest_names_every_file_with_its_source_and_a_permissive_licence():
    models = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
              if p.suffix in (".xml", ".pmml", ".onnx", ".pkl", ".sav", ".skops")}
    assert models == {e["file"] for e in MANIFEST}
    for entry in MANIFEST:
        assert entry["licence"] in LICENCES and entry["source"] and entry["producer"], entry
    producers = {e["producer"].split(" ")[0] for e in MANIFEST}
    assert {"Rattle/PMML", "KNIME", "SoftwareAG", "JPMML-R", "JPMML-SkLearn", "SkLearn2PMML", "SAS(r)", "skl2onnx",
            "OnnxMLTools", "scikit-learn", "skops"} <= producers


# -- PMML: against JPMML-Evaluator's own evaluateAll ------------------------------------------


def _raw_pmml(path: Path, rows: Any) -> Any:
    """JPMML-Evaluator's frame for ``rows``, or the exception it raises."""
    from jpmml_evaluator import make_evaluator

    try:
        return make_evaluator(str(path), backend="jpype").evaluateAll(rows)
    except Exception as exc:
        return exc


def _same(a: Any, b: Any) -> bool:
    """Equal as JPMML means them: numbers to 1e-9, labels as text, missing as missing."""
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(a, (int, float, np.number)) and not isinstance(a, bool):
        return isinstance(b, (int, float, np.number)) and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return str(a) == str(b)


@pytest.mark.parametrize("entry", entries("pmml", "scores"))
def test_pmml_scores_like_jpmml(entry):
    from modelpack.formats.pmml._describe import describe_document

    path = CORPUS / entry["file"]
    rows = rows_of(path)
    raw = _raw_pmml(path, rows)
    assert not isinstance(raw, Exception), raw
    model = load(entry)
    document = describe_document(path)
    target = document.target if document.target in raw.columns else raw.columns[0]
    predicted = list(model.predict(rows))
    assert len(predicted) == len(rows)
    mismatched = [(p, r) for p, r in zip(predicted, raw[target]) if not _same(r, p)]
    assert not mismatched, mismatched[:3]
    if document.classes() is not None:  # the document's labels, typed as its target field says
        declared = document.classes()
        assert len(model.classes_) == len(declared)
        assert all(_declares(text, label) for text, label in zip(declared, model.classes_))
    per_class = {str(v): n for v, n in document.probability_outputs(list(raw.columns)).items()}
    if model.metadata.classes and all(_key(c, per_class) for c in model.classes_):
        proba = model.predict_proba(rows)
        for i, label in enumerate(model.classes_):
            np.testing.assert_allclose(proba[:, i], raw[_key(label, per_class)].to_numpy(dtype=float), rtol=1e-12)
    _scores_the_same_from_the_cache(path, model, rows)


def _scores_the_same_from_the_cache(path: Path, model: Any, rows: Any) -> None:
    """The object JPMML built from this document, kept and read back through the cache's filter,
    gives the answers the XML gave."""
    from modelpack.formats.pmml import _cache

    entry = _cache.entry_for(path.read_bytes())
    assert entry is not None and entry.exists(), "the first load kept nothing"
    assert _cache.read(entry) is not None, "the filter refused what JPMML built from this document"
    kept = load({"file": str(path.relative_to(CORPUS))})
    for method in ("predict", "predict_proba", "transform"):
        if hasattr(model, method):
            np.testing.assert_array_equal(getattr(kept, method)(rows), getattr(model, method)(rows))


def _key(label: Any, per_class: dict[str, str]) -> str | None:
    for value, name in per_class.items():
        if _same(value if not isinstance(label, (int, float)) else _number(value), label):
            return name
    return None


def _declares(text: str, label: Any) -> bool:
    """Is ``label`` the document's ``text``, typed as its target field says?"""
    if isinstance(label, (bool, np.bool_)):
        return str(bool(label)).lower() == text.lower()
    if isinstance(label, (int, float, np.number)):
        return float(text) == float(label)
    return str(label) == text


def _number(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


@pytest.mark.parametrize("entry", entries("pmml", "refused"))
def test_pmml_refused_in_one_line_where_jpmml_fails_too(entry):
    path = CORPUS / entry["file"]
    with pytest.raises(ModelpackError) as err:
        load(entry).predict(rows_of(path))
    assert entry["reason"] in without_name(str(err.value), path) and "\n" not in str(err.value)
    if "has no predict" in entry["reason"]:
        return  # an AssociationModel: JPMML scores rules, there is no prediction to give
    raw = _raw_pmml(path, rows_of(path))
    assert isinstance(raw, Exception) or raw.get("errors", None) is not None and raw["errors"].notna().all()


# -- ONNX: against an onnxruntime session -----------------------------------------------------


def _raw_onnx(path: Path, rows: Any) -> list[Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    if first.type.startswith("map("):
        runs = [session.run(None, {first.name: {k: float(v) for k, v in r.items()}}) for r in rows]
        return [[row for run in runs for row in (run[i] if isinstance(run[i], list) else list(run[i]))]
                for i in range(len(runs[0]))]
    if isinstance(first.shape[0], int):  # a fixed batch size: one run per row
        runs = [session.run(None, {first.name: rows[i : i + 1]}) for i in range(len(rows))]
        return [np.concatenate([run[i] for run in runs]) for i in range(len(runs[0]))]
    return session.run(None, {first.name: rows})


@pytest.mark.parametrize("entry", entries("onnx", "scores"))
def test_onnx_scores_like_onnxruntime_and_the_library_that_made_it(entry):
    path = CORPUS / entry["file"]
    rows = rows_of(path)
    raw = _raw_onnx(path, rows)
    model = load(entry)
    predicted = model.predict(rows)
    expected = expected_of(path)
    label = np.asarray(raw[0])
    np.testing.assert_array_equal(predicted.reshape(label.shape) if label.dtype != object else predicted, label)
    if expected is None:
        return
    if "classes" in expected:  # the labels come from the graph, in the library's order
        assert list(model.classes_) == expected["classes"]
        assert list(predicted) == expected["predict"]
        proba = model.predict_proba(rows)
        zipmap = raw[1] if isinstance(raw[1], list) else None
        if zipmap is not None:
            np.testing.assert_array_equal(proba, [[m[c] for c in expected["classes"]] for m in zipmap])
        np.testing.assert_allclose(proba, expected["predict_proba"], atol=1e-5)
    else:
        np.testing.assert_allclose(np.asarray(predicted, dtype=float).reshape(-1),
                                   np.asarray(expected["predict"], dtype=float).reshape(-1), rtol=1e-3, atol=1e-3)


def test_onnx_written_predictions_take_one_column_per_output(tmp_path):
    entry = next(e for e in MANIFEST if e["file"].startswith("onnx/linear-two-targets"))
    path = CORPUS / entry["file"]
    out = tmp_path / "p.csv"
    data = path.with_name(path.name[: -len(".onnx")] + ".X.npy")
    result = CliRunner().invoke(cli, ["predict", str(path), "--data", str(data), "-o", str(out)])
    assert result.exit_code == 0, result.output
    header = out.read_text().splitlines()[0]
    assert header == "prediction_0,prediction_1"


def test_onnx_tensor_inputs_are_refused_from_a_table_with_the_shapes(tmp_path):
    import onnx

    relu = Path(onnx.__file__).parent / "backend/test/data/pytorch-converted/test_Conv2d/model.onnx"
    csv = tmp_path / "rows.csv"
    csv.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(cli, ["predict", str(relu), "--data", str(csv)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "a table (CSV, Parquet, JSON lines) cannot hold" in result.output and "[2, 3, 7, 5]" in result.output


# -- pickles, joblib and skops files from older scikit-learn -----------------------------------


@pytest.mark.parametrize("entry", entries("pickles", "scores"))
def test_old_pickles_predict_what_their_scikit_learn_predicted(entry):
    path = CORPUS / entry["file"]
    expected = expected_of(path)
    model = load(entry)
    rows = rows_of(path)
    predicted = model.predict(rows)
    if predicted.dtype.kind in "fc":
        np.testing.assert_allclose(predicted, expected["predict"], rtol=1e-9)
    else:
        assert list(predicted) == expected["predict"]
    withheld = entry.get("withheld", [])
    assert sorted(model.withheld) == withheld
    for method in withheld:  # this scikit-learn would compute it otherwise: not offered, and said why
        assert not hasattr(model, method)
        with pytest.raises(UnsupportedModelError) as err:
            getattr(model, method)(rows)
        recorded = re.search(r"sklearn(\d+\.\d+\.\d+)", entry["file"]).group(1)
        assert f"pip install scikit-learn=={recorded}" in str(err.value) and "predict is unaffected" in str(err.value)
    if "predict_proba" in expected and "predict_proba" not in withheld:
        np.testing.assert_allclose(model.predict_proba(rows), expected["predict_proba"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("entry", entries("pickles", "refused"))
def test_old_pickles_that_cannot_load_name_their_version_and_the_way_out(entry):
    path = CORPUS / entry["file"]
    with pytest.raises(ModelpackError) as err:
        load(entry)
    message = str(err.value)
    recorded = re.search(r"sklearn(\d+\.\d+\.\d+)", entry["file"]).group(1)
    assert entry["reason"] in without_name(message, path) and "\n" not in message
    assert f"pip install scikit-learn=={recorded}" in message and "modelpack convert" in message


# -- the outcome recorded for every file still holds, and the CLI never shows a traceback ------


@pytest.mark.parametrize("entry", [pytest.param(e, id=e["file"]) for e in MANIFEST])
def test_recorded_outcome_and_the_cli_on_every_file(entry):
    path = CORPUS / entry["file"]
    outcome = outcome_of(path)
    assert outcome["expect"] == entry["expect"], outcome
    info = CliRunner().invoke(cli, ["info", str(path), "--json"])
    assert info.exit_code == 0, info.output
    described = json.loads(info.output)
    assert described["model_type"] != "unknown"
    if path.suffix in (".xml", ".pmml", ".onnx"):
        assert described["details"]["inputs"], described
    else:
        assert described["estimators"]["class"].startswith("sklearn.")
    verify = CliRunner().invoke(cli, ["verify", str(path)])
    assert "Traceback" not in verify.output and verify.exit_code in (0, 1)
    if verify.exit_code == 1:  # refused on load: one line
        assert entry["expect"] == "refused" and verify.output.startswith("Error: ") and verify.output.count("\n") == 1
    elif described["details"].get("verification"):  # the file's own rows, run by its runtime
        assert verify.exit_code == 0 and "passed" in verify.output and "verification rows embedded" in verify.output
    else:
        assert "nothing to re-run" in verify.output and "modelpack check" in verify.output


# -- onnx's own backend test data, shipped in the onnx wheel (torch.onnx and hand-built graphs) --


def _backend_cases() -> list[Any]:
    try:
        import onnx
    except ImportError:
        return []
    root = Path(onnx.__file__).parent / "backend" / "test" / "data"
    return [pytest.param(d, id=f"{d.parent.name}/{d.name}") for kind in ("pytorch-converted", "pytorch-operator", "simple")
            for d in sorted((root / kind).glob("test_*")) if (d / "model.onnx").exists()]


def _read_proto(path: Path) -> Any:
    import onnx
    from onnx import numpy_helper

    data = path.read_bytes()
    for proto, convert in ((onnx.TensorProto, numpy_helper.to_array), (onnx.SequenceProto, numpy_helper.to_list)):
        message = proto()
        try:
            message.ParseFromString(data)
            return convert(message)
        except Exception:
            continue
    raise ValueError(path)


@pytest.mark.parametrize("case", _backend_cases())
def test_onnx_backend_graphs_score_like_onnxruntime_or_are_refused_in_one_line(case):
    import onnxruntime as ort

    arrays = [_read_proto(p) for p in sorted((case / "test_data_set_0").glob("input_*.pb"))]
    try:
        session = ort.InferenceSession(str(case / "model.onnx"), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        raw = session.run(None, dict(zip(names, arrays)))[0]
    except Exception as exc:  # the runtime refuses it (an operator at an old opset, a missing locale)
        with pytest.raises(ModelpackError) as err:
            modelpack.load(case / "model.onnx").predict(arrays[0] if len(arrays) == 1 else dict(zip(names, arrays)))
        message = str(err.value)
        assert "\n" not in message and "onnxruntime_src" not in message and type(exc).__name__ in (
            "Fail", "NotImplemented", "InvalidArgument", "InvalidGraph", "RuntimeException")
        if type(exc).__name__ == "NotImplemented":  # not a corrupt file: an operator this onnxruntime dropped
            assert isinstance(err.value, UnsupportedModelError), message
            if _standard_opset(case / "model.onnx") < 7:
                assert "declares opset" in message and "onnx.version_converter.convert_version" in message
        return
    model = modelpack.load(case / "model.onnx")
    predicted = model.predict(arrays[0] if len(arrays) == 1 else dict(zip(names, arrays)))
    if isinstance(raw, list):
        raw = np.stack(raw)
    rows = len(arrays[0])
    if raw.ndim == 2 and (raw.shape[1] == 1 or raw.shape == (1, rows)):
        raw = raw.ravel()  # one value per row: scikit-learn's shape
    # the same shape as onnxruntime's otherwise: one example's [1, 24] is not 24 examples
    np.testing.assert_array_equal(predicted, raw, strict=True)


def _standard_opset(path: Path) -> int:
    import onnx

    return next(o.version for o in onnx.load(path).opset_import if o.domain in ("", "ai.onnx"))
