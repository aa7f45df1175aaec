"""A saved file is loaded only if it is what its sidecar's sha256 says, whether the checksum is taken
before loading (small files, trusted loads) or beside it, in a thread (see ``core.load``)."""

from __future__ import annotations

import os
import pickle
import shutil

import numpy as np
import pytest

import modelpack
from conftest import models
from modelpack import CorruptFileError, core
from modelpack._atomic import PENDING_SUFFIX
from modelpack.metadata import sidecar_path

FILES = [(".pkl", {}), (".joblib", {}), (".joblib", {"compress": 3})]


@pytest.fixture(params=["hashed first", "hashed beside"])
def hashing(request, monkeypatch):
    """Both ways ``load`` checks a file: the threshold only picks which way a file of a given size takes."""
    monkeypatch.setattr(core, "HASH_BESIDE", 1 << 62 if request.param == "hashed first" else 0)
    return request.param


def _saved(tmp_path, name, ext, options):
    path = tmp_path / f"{name}{ext}"
    modelpack.save(models()[name].model, path, **options)
    return path


@pytest.mark.parametrize(("ext", "options"), FILES)
def test_a_swapped_file_that_loads_is_refused(tmp_path, hashing, ext, options):
    path = _saved(tmp_path, "logistic", ext, options)
    other = _saved(tmp_path, "kmeans", "-other" + ext, options)
    path.write_bytes(other.read_bytes())  # a valid model, behind the sidecar's back
    assert modelpack.load(other).metadata.model_type.endswith("KMeans")
    with pytest.raises(CorruptFileError, match="changed since it was saved"):
        modelpack.load(path)
    with pytest.raises(CorruptFileError, match="changed since it was saved"):
        modelpack.load(path, trust=["sklearn.cluster._kmeans.KMeans"])


@pytest.mark.parametrize(("ext", "options"), FILES)
def test_a_damaged_file_is_said_to_have_changed_not_what_loading_it_met(tmp_path, hashing, ext, options):
    path = _saved(tmp_path, "forest_strings", ext, options)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="changed since it was saved") as caught:
        modelpack.load(path)
    assert "truncated" not in str(caught.value) and "could not be read" not in str(caught.value)


@pytest.mark.parametrize(("ext", "options"), FILES)
def test_the_pending_sidecar_of_a_killed_save_is_found_by_its_checksum(tmp_path, hashing, ext, options):
    path = _saved(tmp_path, "logistic", ext, options)
    other = _saved(tmp_path, "kmeans", "-other" + ext, options)
    # what a save killed between putting the new model in place and its sidecar leaves
    shutil.copyfile(other, path)
    shutil.copyfile(sidecar_path(other), tmp_path / f".{path.name}.killed{PENDING_SUFFIX}")
    loaded = modelpack.load(path)
    assert loaded.metadata.model_type.endswith("KMeans") and type(loaded.native).__name__ == "KMeans"
    assert loaded.metadata.sha256 == modelpack.load(other).metadata.sha256
    X = models()["kmeans"].X
    np.testing.assert_array_equal(loaded.predict(X), models()["kmeans"].model.predict(X))


class _Touches:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("ext", [".pkl", ".joblib"])
def test_a_trusted_load_of_a_changed_file_runs_nothing_from_it(tmp_path, hashing, ext):
    """Only a load that runs nothing from the file may start before its checksum is known."""
    path = _saved(tmp_path, "logistic", ext, {})
    marker = tmp_path / "ran"
    path.write_bytes(pickle.dumps(_Touches(marker)))
    for trust in (True, [f"{os.system.__module__}.system"]):  # trusting it all, or the one callable it names
        with pytest.raises(CorruptFileError, match="changed since it was saved"):
            modelpack.load(path, trust=trust)
        assert not marker.exists()
    sidecar_path(path).unlink()  # the same file without its sidecar: trust runs it, so the marker above could appear
    with pytest.raises(modelpack.ModelpackError):
        modelpack.load(path, trust=True)  # a marker maker, not a model
    assert marker.exists()


@pytest.mark.parametrize(("ext", "options"), FILES)
def test_an_unchanged_file_loads_alike_either_way(tmp_path, hashing, ext, options):
    trained = models()["forest_strings"]
    path = _saved(tmp_path, "forest_strings", ext, options)
    for trust in (False, True):
        loaded = modelpack.load(path, trust=trust)
        assert loaded.metadata.sha256 == modelpack.describe(path).sha256
        np.testing.assert_array_equal(loaded.predict(trained.X), trained.model.predict(trained.X))


def test_a_trusted_joblib_file_loads_from_the_bytes_checked_and_an_old_one_by_its_name(tmp_path, monkeypatch):
    """A trusted load hands joblib the bytes it checked (one read), except a file of joblib < 0.10, whose
    arrays sit in companion files joblib finds by the file's name: from bytes it would look in the
    working directory, here full of decoys. Both load what joblib.load(path) loads."""
    import hashlib
    import io
    import json
    import warnings

    import joblib
    from joblib.numpy_pickle_compat import NDArrayWrapper
    from sklearn.linear_model import LogisticRegression

    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    trained = LogisticRegression().fit(X, [0, 0, 1, 1])
    here, elsewhere = tmp_path / "models", tmp_path / "cwd"
    here.mkdir()
    elsewhere.mkdir()
    new, old = here / "new.joblib", here / "old.joblib"
    modelpack.save(trained, new)
    modelpack.save(trained, old)

    class OldJoblib(pickle.Pickler):  # as joblib < 0.10 wrote: each array in a companion .npy file
        count = 0

        def reducer_override(self, obj):
            if type(obj) is not np.ndarray or obj.dtype == object:
                return NotImplemented
            OldJoblib.count += 1
            name = f"old.joblib_{OldJoblib.count:02d}.npy"
            np.save(here / name, obj)
            np.save(elsewhere / name, np.full_like(obj, 7))  # a decoy of the same name in the working directory
            return NDArrayWrapper, (name, np.ndarray), {"filename": name, "subclass": np.ndarray, "allow_mmap": True}

    buffer = io.BytesIO()
    OldJoblib(buffer, protocol=2).dump(trained)
    old.write_bytes(buffer.getvalue())
    recorded = json.loads(sidecar_path(old).read_text())
    recorded["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    sidecar_path(old).write_text(json.dumps(recorded))
    monkeypatch.chdir(elsewhere)
    for path in (new, old):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joblib's "regenerate this pickle file"
            expected = joblib.load(path)
            loaded = modelpack.load(path, trust=True)
        np.testing.assert_array_equal(loaded.native.coef_, expected.coef_)
        np.testing.assert_array_equal(loaded.predict(X), trained.predict(X))
