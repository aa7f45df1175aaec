"""Once dill is imported (TensorFlow and sklearn2pmml import it) before joblib, joblib writes
builtin types through dill. modelpack's saves stay plain; files others wrote that way load
without dill."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import modelpack
from modelpack.errors import UntrustedContentError

pytest.importorskip("dill")

FIT = """
import numpy as np, pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
X = pd.DataFrame({"c": ["a", "b", "a", "b"] * 5, "n": np.arange(20.0)})
model = make_pipeline(make_column_transformer((OneHotEncoder(), ["c"]), remainder="passthrough"),
                      LogisticRegression()).fit(X, [0, 1] * 10)
"""


def test_modelpack_writes_joblib_without_dill_even_after_dill_was_imported(tmp_path):
    code = "import dill\n" + FIT + f"""
import joblib, modelpack
joblib.dump(model, {str(tmp_path / 'raw.joblib')!r})           # what joblib alone writes now
modelpack.save(model, {str(tmp_path / 'ours.joblib')!r})
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    assert b"dill._dill" in (tmp_path / "raw.joblib").read_bytes()  # the hazard is real
    assert b"dill" not in (tmp_path / "ours.joblib").read_bytes()


def test_a_joblib_file_that_names_dills_builtin_types_loads_without_dill(tmp_path):
    code = "import dill\n" + FIT + f"""
import joblib
joblib.dump(model, {str(tmp_path / 'raw.joblib')!r})
print(list(model.predict(X)))
"""
    expected = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    check = ("import sys, modelpack, pandas as pd, numpy as np; "
             f"m = modelpack.load({str(tmp_path / 'raw.joblib')!r}); "
             "X = pd.DataFrame({'c': ['a', 'b', 'a', 'b'] * 5, 'n': np.arange(20.0)}); "
             "print(list(m.predict(X))); print('dill' in sys.modules)")
    got = subprocess.run([sys.executable, "-c", check], check=True, capture_output=True, text=True).stdout
    predictions, imported_dill = got.strip().splitlines()
    assert predictions == expected.strip() and imported_dill == "False"
    assert modelpack.describe(tmp_path / "raw.joblib").untrusted == []


@pytest.mark.parametrize("name", ["eval", "function", "type", "CodeType"])
def test_dills_type_loader_names_only_plain_builtins(tmp_path, name):
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"\x80\x02cdill._dill\n_load_type\n" + pickle.dumps(name, protocol=2)[2:-1] + b"\x85R.")
    with pytest.raises(UntrustedContentError, match=f"names '{name}', not a builtin type modelpack reads"):
        modelpack.load(path)
    assert modelpack.describe(path).untrusted
