"""save/load behaviour that every format shares: detection, atomic writes, warnings, plugins."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pytest

import modelpack
from conftest import assert_same_outputs, extension, models
from modelpack import FileExistsModelpackError, UnknownFormatError
from modelpack.metadata import sidecar_path


def test_plain_files_not_written_by_modelpack_load(tmp_path):
    import skops.io as sio

    trained = models()["forest_strings"]
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps(trained.model))
    joblib.dump(trained.model, tmp_path / "plain.joblib", compress=("gzip", 3))
    sio.dump(trained.model, tmp_path / "plain.skops")
    for name, fmt in [("plain.pkl", "pickle"), ("plain.joblib", "joblib"), ("plain.skops", "skops")]:
        loaded = modelpack.load(tmp_path / name)
        assert loaded.format == fmt
        assert loaded.metadata.task == "classifier"
        assert loaded.metadata.sample is None  # nothing recorded, and that is fine
        assert_same_outputs(trained.model, loaded, trained.X)


@pytest.mark.parametrize("writer,fake_name,expected", [
    ("pickle", "model.joblib", "joblib"),  # joblib reads plain pickles; the extension breaks the tie
    ("joblib", "model.pkl", "joblib"),
    ("joblib_zlib", "model.pkl", "joblib"),
    ("skops", "model.pkl", "skops"),
    ("pickle", "model", "pickle"),
    ("joblib_zlib", "model.bin", "joblib"),
])
def test_content_wins_over_a_lying_or_missing_extension(tmp_path, writer, fake_name, expected):
    import skops.io as sio

    trained = models()["forest_strings"]
    path = tmp_path / fake_name
    if writer == "pickle":
        path.write_bytes(pickle.dumps(trained.model))
    elif writer == "skops":
        sio.dump(trained.model, path)
    else:
        joblib.dump(trained.model, path, compress=3 if writer == "joblib_zlib" else 0)
    loaded = modelpack.load(path)
    assert loaded.format == expected
    assert_same_outputs(trained.model, loaded, trained.X)


def test_sidecar_is_optional(tmp_path):
    trained = models()["logistic"]
    path = tmp_path / "model.joblib"
    modelpack.save(trained.model, path, sample=trained.X)
    assert sidecar_path(path).exists()
    sidecar_path(path).unlink()
    assert_same_outputs(trained.model, modelpack.load(path), trained.X)


def test_metadata_inside_skops_needs_no_sidecar(tmp_path):
    path = tmp_path / "model.skops"
    modelpack.save(models()["logistic"].model, path, sample=models()["logistic"].X)
    assert not sidecar_path(path).exists()
    assert modelpack.load(path).metadata.sample is not None


def test_joblib_compression_levels(tmp_path):
    trained = models()["forest_strings"]
    sizes = {}
    for level in (0, 3, 9):
        path = tmp_path / f"m{level}.joblib"
        modelpack.save(trained.model, path, compress=level)
        sizes[level] = path.stat().st_size
        assert_same_outputs(trained.model, modelpack.load(path), trained.X)
    assert sizes[3] < sizes[0] and sizes[9] <= sizes[3]


def test_never_overwrites_unless_asked(tmp_path, format_name):
    path = tmp_path / f"model{extension(format_name)}"
    modelpack.save(models()["logistic"].model, path)
    before = path.read_bytes()
    with pytest.raises(FileExistsModelpackError, match="pass overwrite=True to replace it") as raised:
        modelpack.save(models()["kmeans"].model, path)
    assert "--force" not in str(raised.value) and "\x02" not in str(raised.value)  # Python's spelling only
    assert path.read_bytes() == before
    modelpack.save(models()["kmeans"].model, path, overwrite=True)
    assert modelpack.load(path).metadata.task == "clusterer"


class _FailsHalfway:
    """Pickling writes part of the stream, then fails: a crash mid-save."""

    def __init__(self):
        self.big = np.zeros(100_000)

    def __reduce__(self):
        raise KeyboardInterrupt


def test_interrupted_save_leaves_the_old_file_and_no_debris(tmp_path):
    path = tmp_path / "model.pkl"
    modelpack.save(models()["logistic"].model, path)
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        modelpack.save({"model": _FailsHalfway()}, path, overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl", "model.pkl.modelpack.json"]


def test_unknown_extension_and_format_list_the_choices(tmp_path):
    with pytest.raises(UnknownFormatError, match="pickle") as err:
        modelpack.save(models()["logistic"].model, tmp_path / "model.xyz")
    assert "joblib" in str(err.value)
    with pytest.raises(UnknownFormatError, match="pick one of"):
        modelpack.save(models()["logistic"].model, tmp_path / "m.pkl", format="nope")


def test_version_change_warns_naming_both_versions(tmp_path):
    path = tmp_path / "model.pkl"
    modelpack.save(models()["logistic"].model, path)
    side = sidecar_path(path)
    meta = json.loads(side.read_text())
    meta["versions"]["sklearn"] = "0.24.2"
    side.write_text(json.dumps(meta))
    with pytest.warns(modelpack.VersionMismatchWarning, match=r"0\.24\.2.*1\.\d"):
        modelpack.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", modelpack.VersionMismatchWarning)
        modelpack.save(models()["logistic"].model, path, overwrite=True)
        modelpack.load(path)


def test_missing_methods_are_absent_not_none(tmp_path):
    path = tmp_path / "model.joblib"
    modelpack.save(models()["linear_regression"].model, path)
    loaded = modelpack.load(path)
    assert not hasattr(loaded, "predict_proba")
    with pytest.raises(AttributeError, match="has no predict_proba"):
        loaded.predict_proba([[0, 0, 0, 0]])
    with pytest.raises(modelpack.UnsupportedModelError):
        loaded.transform([[0, 0, 0, 0]])


def test_import_modelpack_is_light():
    code = "import sys, modelpack; heavy = [m for m in ('numpy','sklearn','skl2onnx','onnxruntime','sklearn2pmml','jpype','pandas','scipy','skops','joblib') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_lazy_public_names_resolve_whatever_was_imported_first():
    """check and convert name a submodule and a function: importing the submodule (as the CLI does)
    must not put the module where the function was."""
    code = ("import modelpack.cli, modelpack.convert, modelpack.check, modelpack\n"
            "print(callable(modelpack.check), callable(modelpack.convert), modelpack.registry.__name__,\n"
            "      modelpack.Model.__name__, sorted(set(modelpack.__all__) - set(dir(modelpack))))\n"
            "from modelpack import check, convert, load\n"
            "print(check.__module__, convert.__module__, load.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "True True modelpack.registry Model []"
    assert out[1] == "modelpack.check modelpack.convert modelpack.core"
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        modelpack.no_such_name  # noqa: B018


def test_loading_an_onnx_file_imports_no_pickle_machine_and_no_scikit_learn(tmp_path):
    """Every command lists the formats at start; that must not import the pickle machine and its
    allowlist (20 ms), the XML writer's urllib and ssl (8 ms), scikit-learn or pandas."""
    trained = models()["logistic"]
    modelpack.save(trained.model, tmp_path / "m.onnx", sample=trained.X)
    code = ("import sys, numpy, modelpack.cli; modelpack.load(sys.argv[1]).predict(numpy.zeros((1, 4))); "
            "print([x for x in ('modelpack.safety._vm', 'modelpack.safety._policy', 'modelpack.safety._allowlist', "
            "'xml.sax.saxutils', 'ssl', 'sklearn', 'pandas') if x in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.onnx")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_third_party_format_plugs_in_through_the_entry_point(tmp_path):
    """Install a tiny plugin package for real and see it in `modelpack formats` and in load()."""
    src = tmp_path / "src"
    (src / "modelpack_npz").mkdir(parents=True)
    (src / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "modelpack-npz"
        version = "1.0"
        [project.entry-points."modelpack.formats"]
        npzlinear = "modelpack_npz:NpzLinear"
    """))
    (src / "modelpack_npz" / "__init__.py").write_text(textwrap.dedent('''
        import numpy as np
        from modelpack import Format, Model

        class _Linear(Model):
            def __init__(self, coef, intercept, path, metadata):
                super().__init__(format="npzlinear", path=path, metadata=metadata, capabilities={"predict"})
                self.coef, self.intercept = coef, intercept
            def _predict(self, X):
                return np.asarray(X) @ self.coef + self.intercept

        class NpzLinear(Format):
            name = "npzlinear"
            extensions = (".npzlin",)
            def sniff(self, head):
                return head.startswith(b"PK") and b"coef" in head
            def save(self, model, path, metadata, **options):
                with open(path, "wb") as fh:
                    np.savez(fh, coef=model.coef_, intercept=model.intercept_)
                return metadata
            def load(self, path, metadata, **options):
                d = np.load(path)
                return _Linear(d["coef"], d["intercept"], path, metadata)
    '''))
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(src)],
        check=True,
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(target)}
    listed = subprocess.run([sys.executable, "-m", "modelpack", "formats", "--json"], env=env, capture_output=True, text=True, check=True)
    names = [f["name"] for f in json.loads(listed.stdout)]
    assert "npzlinear" in names and "pickle" in names
    script = textwrap.dedent(f"""
        import numpy as np, modelpack
        from sklearn.linear_model import LinearRegression
        X = np.arange(12.).reshape(6, 2); y = X @ [2., 3.] + 1
        m = LinearRegression().fit(X, y)
        modelpack.save(m, {str(tmp_path / 'm.npzlin')!r})
        loaded = modelpack.load({str(tmp_path / 'm.npzlin')!r})
        assert loaded.format == "npzlinear", loaded.format
        np.testing.assert_allclose(loaded.predict(X), m.predict(X))
        print("ok")
    """)
    ran = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert ran.stdout.strip() == "ok", ran.stderr


def test_a_broken_plugin_is_skipped_with_a_warning(tmp_path):
    """An installed plugin whose module fails to import must not break loading other formats."""
    site = tmp_path / "site"
    dist = site / "modelpack_broken-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: modelpack-broken\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[modelpack.formats]\nbroken = modelpack_broken_missing:Format\n")
    path = tmp_path / "m.joblib"
    modelpack.save(models()["logistic"].model, path)
    script = f"import modelpack, warnings; warnings.simplefilter('always'); print(modelpack.load({str(path)!r}).format)"
    env = {**__import__("os").environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "joblib"
    assert "'broken' format plugin cannot be loaded" in proc.stderr


@pytest.mark.parametrize("name", ["pickle", "joblib", "skops", "onnx", "pmml", "keras", "tflite", "torch", "h2o"])
def test_an_option_the_format_lacks_is_said_before_the_target_exists(tmp_path, name):
    """save(..., force=True) on an existing file said "already exists; pass overwrite=True" and, once
    the user added it, "no option force": now the option first, before any work, the file untouched."""
    from modelpack.registry import get_format

    fmt = get_format(name)
    target = tmp_path / "model.bin"
    target.write_bytes(b"kept")
    with pytest.raises(modelpack.UnknownOptionError, match=f"the {name} format has no option force; it takes "):
        modelpack.save(object(), target, format=name, force=True)  # not even a model: nothing looked at yet
    assert target.read_bytes() == b"kept" and fmt.save_options is not None
    with pytest.raises(FileExistsModelpackError, match="already exists; pass overwrite=True"):
        modelpack.save(object(), target, format=name)  # then the target, still before the model
