"""Pickles from other scikit-learn versions: modelpack says which version wrote them and what to do."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import modelpack
from modelpack.errors import VersionMismatchWarning


def test_a_class_this_scikit_learn_no_longer_has_names_the_recorded_version(tmp_path):
    """scikit-learn 0.22 pickled forests as sklearn.ensemble.forest.RandomForestClassifier."""
    state = {"n_estimators": 10, "_sklearn_version": "0.22.1"}
    data = (b"\x80\x02csklearn.ensemble.forest\nRandomForestClassifier\n)\x81" + pickle.dumps(state, protocol=2)[2:-1]
            + b"b.")
    for path in (tmp_path / "old.pkl", tmp_path / "old.joblib"):
        path.write_bytes(data)
        with pytest.raises(modelpack.UnsupportedModelError) as err:
            modelpack.load(path)
        message = str(err.value)
        assert "pickled with scikit-learn 0.22.1" in message and "sklearn.ensemble.forest.RandomForestClassifier" in message
        assert "pip install scikit-learn==0.22.1" in message and "modelpack convert" in message
    info = modelpack.describe(tmp_path / "old.pkl")
    assert info.recorded_versions == {"sklearn": "0.22.1"}


@pytest.mark.parametrize("writer", ["pickle", "joblib"])
def test_a_loadable_pickle_from_another_version_gets_modelpacks_warning_once(tmp_path, writer):
    import sklearn
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(40, 3))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    other = "1.5.2" if sklearn.__version__ != "1.5.2" else "1.4.0"
    data = pickle.dumps(model, protocol=4).replace(f"\x8c\x05{sklearn.__version__}".encode("latin1"),
                                                    f"\x8c\x05{other}".encode("latin1"))
    assert other.encode() in data
    path = tmp_path / f"m.{'pkl' if writer == 'pickle' else 'joblib'}"
    path.write_bytes(data)  # a plain pickle is a joblib file too: the joblib reader takes it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = modelpack.load(path)
    ours = [w for w in caught if issubclass(w.category, VersionMismatchWarning)]
    theirs = [w for w in caught if type(w.message).__name__ == "InconsistentVersionWarning"]
    assert len(ours) == 1 and not theirs
    assert f"pickled with scikit-learn {other} and is loaded with {sklearn.__version__}" in str(ours[0].message)
    assert list(loaded.predict(X)) == list(model.predict(X))
