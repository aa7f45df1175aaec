"""Hostile files: nothing they name runs, and the error is the documented one."""

from __future__ import annotations

import os
import pickle
import subprocess
import zipfile

import joblib
import numpy as np
import pytest

import modelpack
from conftest import models
from modelpack import CorruptFileError, UntrustedContentError


class _RunsCode:
    """Unpickling this calls ``func(*args)``; each test points it at creating a marker file."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    return {
        "os.system": _RunsCode(os.system, f"touch {marker}"),
        "eval": _RunsCode(eval, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.call": _RunsCode(subprocess.call, ["touch", str(marker)]),
        "exec": _RunsCode(exec, f"open({str(marker)!r}, 'w').close()"),
    }


PAYLOAD_NAMES = ["os.system", "eval", "subprocess.call", "exec"]


def _hidden_in_pipeline(payload):
    """A fitted pipeline whose scaler carries the payload in an attribute."""
    import copy

    pipe = copy.deepcopy(models()["pipeline_frame"].model)
    pipe.steps[0][1].transformers_[1][1].mean_ = payload
    return pipe


@pytest.mark.parametrize("payload_name", PAYLOAD_NAMES)
@pytest.mark.parametrize("hidden", [False, True], ids=["bare", "in_pipeline"])
@pytest.mark.parametrize("writer", ["pickle", "joblib", "joblib_zlib"])
def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path, payload_name, hidden, writer):
    marker = tmp_path / "pwned"
    payload = _payloads(marker)[payload_name]
    obj = _hidden_in_pipeline(payload) if hidden else payload
    path = tmp_path / ("model.pkl" if writer == "pickle" else "model.joblib")
    if writer == "pickle":
        path.write_bytes(pickle.dumps(obj, protocol=5))
    else:
        joblib.dump(obj, path, compress=3 if writer == "joblib_zlib" else 0)
    with pytest.raises(UntrustedContentError, match="not on the allowlist") as err:
        modelpack.load(path)
    assert not marker.exists(), "the payload ran"
    qualname = {"os.system": "system", "eval": "eval", "subprocess.call": "call", "exec": "exec"}[payload_name]
    assert qualname in str(err.value) and "trust=True" in str(err.value)
    # info names the offending global without running it either
    info = modelpack.describe(path)
    assert any(qualname in g for g in info.untrusted)
    assert not marker.exists()


def test_payload_in_a_joblib_object_array_is_refused(tmp_path):
    """joblib pickles object arrays as a nested stream: it must go through the allowlist too."""
    marker = tmp_path / "pwned"
    arr = np.empty(2, dtype=object)
    arr[0] = _RunsCode(os.system, f"touch {marker}")
    arr[1] = "x"
    path = tmp_path / "model.joblib"
    joblib.dump({"coef": arr}, path)
    with pytest.raises(UntrustedContentError):
        modelpack.load(path)
    assert not marker.exists()


def test_numpy_functions_that_run_code_are_not_admitted(tmp_path):
    """The allowlist is exact: numpy.load (which reads pickles) is in numpy but not allowed."""
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_RunsCode(np.load, str(tmp_path / "x.npy")), protocol=4))
    with pytest.raises(UntrustedContentError, match="numpy.load"):
        modelpack.load(path)


def test_trust_runs_the_code_when_asked(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_RunsCode(os.system, f"touch {marker}")))
    with pytest.raises(modelpack.UnsupportedModelError, match="not a model"):
        modelpack.load(path, trust=True)  # os.system returns an int, which is no model: but it ran
    assert marker.exists()


def test_trust_list_admits_exactly_the_named_globals(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_RunsCode(os.getcwd)))
    with pytest.raises(UntrustedContentError, match="posix.getcwd"):
        modelpack.load(path, trust=["os.getpid"])
    # admitted, it runs: the result (a str) is then refused as not being a model
    with pytest.raises(modelpack.UnsupportedModelError, match="holds a builtins.str, not a model"):
        modelpack.load(path, trust=["posix.getcwd"])


def test_skops_untrusted_type_is_refused(tmp_path):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "model.skops"
    sio.dump(FunctionTransformer(func=os.getcwd).fit([[1]]), path)
    with pytest.raises(UntrustedContentError, match="getcwd"):
        modelpack.load(path)
    assert modelpack.load(path, trust=True).native.func is os.getcwd


@pytest.mark.parametrize("content,ext,error", [
    (b"", ".pkl", "is empty"),
    (b"\x80\x05\x95\x10\x00\x00", ".pkl", "not a valid pickle"),  # truncated
    (b"this is plainly text\n", ".joblib", "content is not joblib"),
    (b"PK\x03\x04garbage", ".skops", "not a valid skops file|not a skops file|could not be read"),
    (b"hello", ".weird", "could not deduce the format"),
])
def test_corrupt_empty_and_unknown_files(tmp_path, content, ext, error):
    path = tmp_path / f"model{ext}"
    path.write_bytes(content)
    with pytest.raises(modelpack.ModelpackError, match=error):
        modelpack.load(path)


def test_zip_that_is_not_skops(tmp_path):
    path = tmp_path / "model.skops"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(CorruptFileError, match="not a skops file"):
        modelpack.load(path)


def test_changed_file_is_refused_by_its_checksum(tmp_path):
    path = tmp_path / "model.pkl"
    modelpack.save(models()["logistic"].model, path)
    other = tmp_path / "other.pkl"
    modelpack.save(models()["kmeans"].model, other)
    path.write_bytes(other.read_bytes())  # swapped behind the sidecar's back
    with pytest.raises(CorruptFileError, match="changed since it was saved"):
        modelpack.load(path)
