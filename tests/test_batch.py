"""predict_file's reader thread (order kept, errors surfaced, thread gone when scoring stops) and its CSV writer."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelpack
import modelpack.data as data_module
from modelpack.batch import _bulk_text, _prefetched, csv_text
from modelpack.data import conform, conform_columns, small_numeric_csv
from modelpack.metadata import Feature, InputSchema


def test_prefetched_keeps_order_and_ends():
    assert list(_prefetched(iter(range(50)))) == list(range(50))


def test_a_reader_error_reaches_the_consumer():
    def broken():
        yield 1
        raise ValueError("line 3 cannot be parsed")

    got = []
    with pytest.raises(ValueError, match="line 3"):
        for item in _prefetched(broken()):
            got.append(item)
    assert got == [1]


def test_stopping_early_stops_the_reader():
    before = threading.active_count()
    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    for item in _prefetched(endless(), depth=2):
        if item == 3:
            break
    assert threading.active_count() == before
    assert len(produced) <= 3 + 1 + 2 + 1  # consumed, the one in hand, the queue, the blocked put


# -- the CSV writer: Arrow's bulk formatting where it can, byte for byte what pandas writes -------------

_texts = st.lists(st.one_of(st.text(), st.sampled_from(["yes", "no", "a,b", 'say "hi"', "", " x", "501"]), st.none()),
                  min_size=0, max_size=12)
_columns = st.one_of(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=12).map(lambda v: np.array(v, dtype=np.int64)),
    st.lists(st.booleans(), max_size=12).map(lambda v: np.array(v, dtype=bool)),
    st.lists(st.floats(allow_nan=True, width=64), max_size=12).map(lambda v: np.array(v, dtype=np.float64)),
    _texts.map(lambda v: np.array(v, dtype=object)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_columns, min_size=1, max_size=3), st.booleans())
def test_csv_text_is_what_pandas_writes(columns, header):
    n = min(len(c) for c in columns)
    named = {["prediction", "proba_a,b", "proba_no"][i]: c[:n] for i, c in enumerate(columns)}
    assert csv_text(named, header) == pd.DataFrame(named).to_csv(index=False, header=header, lineterminator="\n")


def test_the_bulk_path_takes_labels_and_leaves_floats_to_pandas():
    """The commonest outputs (integer or plain text labels) are formatted in bulk; the rest fall back."""
    assert _bulk_text(np.array([0, 1, 1])) is not None
    assert _bulk_text(np.array(["yes", "no"], dtype=object)) is not None
    assert _bulk_text(np.array([0.5, 1.0])) is None  # Python's repr decides a float's digits
    assert _bulk_text(np.array(["a,b"], dtype=object)) is None  # quoted by the csv module
    assert _bulk_text(np.array([None, "x"], dtype=object)) is None


# -- small CSVs of plain numbers: read without pandas, exactly as pandas reads them ---------------------

_number_text = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.builds(lambda sign, whole, frac, exp: f"{sign}{whole}.{frac}{exp}",
              st.sampled_from(["", "-", "+"]), st.text("0123456789", max_size=20), st.text("0123456789", max_size=20),
              st.one_of(st.just(""), st.integers(-340, 320).map(lambda e: f"e{e}"))),
    st.sampled_from(["", "nan", "NA", " 1", "1_000", "0x10", "inf", "1e", ".", "-", "1.5.2", "٣"]),  # pandas' business
)


def _schema(kind: str, n: int) -> InputSchema:
    return InputSchema(features=tuple(Feature(f"x{i}", "int64" if i == 0 and kind == "dataframe" else "float64")
                                      for i in range(n)), kind=kind)


@pytest.mark.parametrize("exact", [True, False], ids=["pandas-3.1", "older-pandas"])
@pytest.mark.parametrize("kind", ["array", "dataframe"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # the patch is per case
@given(rows=st.lists(st.lists(_number_text, min_size=3, max_size=3), min_size=1, max_size=6))
def test_a_small_numeric_csv_reads_as_pandas_reads_it(tmp_path_factory, monkeypatch, kind, exact, rows):
    """Wherever the csv-module reader takes a file, its typed numbers are pandas' to the bit; where
    pandas might differ (a missing value, text, more digits than an older pandas rounds right) it
    declines and pandas reads the file."""
    monkeypatch.setattr(data_module, "_pandas_rounds_correctly", lambda: exact)
    path = tmp_path_factory.mktemp("csv") / "rows.csv"
    path.write_text("x0,x1,x2\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    schema = _schema(kind, 3)
    fast = small_numeric_csv(path, schema)
    if fast is None:
        return
    try:
        slow = conform(pd.read_csv(path), schema, "rows.csv")
    except modelpack.InvalidInputError:
        with pytest.raises(modelpack.InvalidInputError):
            conform_columns(fast, schema, "rows.csv") if kind == "dataframe" else conform(fast, schema, "rows.csv")
        return
    if kind == "array":
        assert fast.dtype == slow.dtype and fast.tobytes() == slow.tobytes()
    else:
        typed = conform_columns(fast, schema, "rows.csv")
        for name in schema.names:
            expected = slow[name].to_numpy()
            assert typed[name].dtype == expected.dtype and typed[name].tobytes() == expected.tobytes(), name


def test_machine_written_floats_take_the_csv_module_path(tmp_path):
    path = tmp_path / "one.csv"
    pd.DataFrame(np.random.default_rng(0).normal(size=(3, 3)), columns=["x0", "x1", "x2"]).to_csv(path, index=False)
    got = small_numeric_csv(path, _schema("array", 3))
    assert got is not None and got.shape == (3, 3)
    assert small_numeric_csv(path, _schema("array", 2)) is None  # a column more than the model takes: conform decides


def test_predict_on_a_small_numeric_csv_imports_no_pandas(tmp_path):
    import subprocess
    import sys

    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(50, 3))
    modelpack.save(LogisticRegression().fit(X, X[:, 0] > 0), tmp_path / "m.onnx", sample=X)
    pd.DataFrame(X[:2], columns=["x1", "x2", "x3"]).to_csv(tmp_path / "two.csv", index=False)
    code = ("import sys; from modelpack.cli import cli\n"
            "try:\n    cli(['predict', sys.argv[1], '--data', sys.argv[2]])\nexcept SystemExit:\n    pass\n"
            "print('pandas' in sys.modules, 'pyarrow' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.onnx"), str(tmp_path / "two.csv")],
                         capture_output=True, text=True, check=True)
    assert out.stderr.strip().splitlines()[-1] == "False False", out.stderr
    expected = modelpack.load(tmp_path / "m.onnx").predict(X[:2])
    assert out.stdout == "prediction\n" + "".join(f"{v}\n" for v in expected)


def test_a_long_run_of_digits_is_declined_in_bounded_time(tmp_path):
    """Untrusted input is bounded in time: a 120k-digit cell that ends badly must not make the number
    pattern backtrack quadratically (minutes, with the first pattern written; milliseconds now)."""
    import subprocess
    import sys

    path = tmp_path / "long.csv"
    path.write_text("x0\n" + "1" * 120_000 + "x\n")
    code = ("import sys; from modelpack.data import small_numeric_csv; from modelpack.metadata import Feature, InputSchema;"
            "print(small_numeric_csv(sys.argv[1], InputSchema(features=(Feature('x0', 'float64'),), kind='array')))")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "None", done.stderr


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["<f8", ">f4", "<i8", "U3", "?"]), st.integers(0, 120), st.sampled_from([(), (3,), (2, 2)]),
       st.booleans(), st.integers(1, 50))
def test_npy_batches_are_what_numpy_reads(tmp_path, dtype, rows, row_shape, fortran, batch_size):
    """Read from the file in batches, not mapped, whatever the byte order, element type and layout."""
    array = np.arange(rows * int(np.prod(row_shape, dtype=int))).astype(dtype).reshape((rows, *row_shape))
    path = tmp_path / "rows.npy"
    np.save(path, np.asfortranarray(array) if fortran else array)
    batches = list(data_module.iter_batches(path, batch_size))
    assert all(len(b) <= batch_size and b.dtype == np.load(path).dtype for b in batches)
    assert sum(len(b) for b in batches) == rows
    if batches:
        assert np.array_equal(np.concatenate(batches), np.load(path))


@pytest.mark.parametrize(("write", "message"), [
    (lambda p: p.write_bytes(_npy(np.ones((1000, 4)))[:2000]), "rows.npy is truncated: its header declares 1,000 rows "
                                                              "(32,000 bytes), the file holds 1,872; write it again"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00garbage"), "rows.npy is not a valid .npy file: "),
    (lambda p: p.write_bytes(b"not numpy at all"), "rows.npy is not a valid .npy file: "),
    (lambda p: np.save(p, np.float64(3)), "rows.npy holds a single value, not rows"),
    (lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True), "rows.npy holds Python objects"),
    (lambda p: p.write_bytes(_npy(np.array([{"a": 1}], dtype=object), version=(3, 0))), "rows.npy holds Python objects"),
])
def test_a_bad_npy_file_is_one_line_naming_it(tmp_path, write, message):
    """A mapped truncated file said "mmap length is greater than file size"; a 0-d one raised a TypeError."""
    path = tmp_path / "rows.npy"
    write(path)
    with pytest.raises(modelpack.errors.InvalidInputError) as refused:
        list(data_module.iter_batches(path, 100))
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def _npy(array: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version, allow_pickle=True)
    return buffer.getvalue()


def test_predict_counts_the_rows_it_scored(tmp_path):
    """A vector of one row's features is scored as one row, and said so (it was "wrote 4 predictions")."""
    from click.testing import CliRunner
    from sklearn.linear_model import LogisticRegression

    from modelpack.cli import cli

    X = np.random.default_rng(0).normal(size=(40, 4))
    path = tmp_path / "m.joblib"
    modelpack.save(LogisticRegression().fit(X, X[:, 0] > 0), path, sample=X)
    np.save(tmp_path / "one.npy", X[0])
    done = CliRunner().invoke(cli, ["predict", str(path), "--data", str(tmp_path / "one.npy"), "-o", str(tmp_path / "o.csv")])
    assert done.exit_code == 0, done.output
    assert "wrote 1 prediction to" in done.output and len((tmp_path / "o.csv").read_text().splitlines()) == 2


def _zip_of(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _parquet() -> bytes:
    import io

    buffer = io.BytesIO()
    pd.DataFrame({"x": np.arange(1000.0)}).to_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "content", "message"), [
    ("rows.npz", lambda: _zip_of({"a.npy": _npy(np.array([{"x": 1}], dtype=object))}), "rows.npz holds Python objects"),
    ("rows.npz", lambda: _zip_of({"a.npy": _npy(np.float64(1))}), "rows.npz: its array 'a' holds a single value, not rows"),
    ("rows.npz", lambda: _zip_of({}), "rows.npz holds no arrays; save one per model input"),
    ("rows.npz", lambda: b"PK\x03\x04garbage", "rows.npz is not a valid .npz file: "),
    ("rows.npz", lambda: _zip_of({"a.npy": _npy(np.ones((100, 3)))})[:300], "rows.npz is not a valid .npz file: "),
    ("rows.parquet", lambda: b"PAR1garbagePAR1", "rows.parquet is not a valid Parquet file: "),
    ("rows.parquet", lambda: _parquet()[: len(_parquet()) // 2], "rows.parquet is not a valid Parquet file: "),
])
def test_a_bad_npz_or_parquet_file_is_one_line_naming_it(tmp_path, name, content, message):
    """Were: a BadZipFile and a TypeError traceback, numpy's and Arrow's messages naming no file, and
    "its arrays have different numbers of rows ([])" for an empty archive."""
    path = tmp_path / name
    path.write_bytes(content())
    with pytest.raises(modelpack.errors.InvalidInputError) as refused:
        list(data_module.iter_batches(path, 100))
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_an_npz_of_one_array_feeds_a_model_of_one_array(tmp_path):
    """It was "the model expects 4 features per row, got an input of shape ()"."""
    from click.testing import CliRunner
    from sklearn.linear_model import LogisticRegression

    from modelpack.cli import cli

    X = np.random.default_rng(0).normal(size=(40, 4))
    path = tmp_path / "m.joblib"
    modelpack.save(LogisticRegression().fit(X, X[:, 0] > 0), path, sample=X)
    np.savez(tmp_path / "one.npz", rows=X)
    np.savez(tmp_path / "two.npz", rows=X, more=X)
    done = CliRunner().invoke(cli, ["predict", str(path), "--data", str(tmp_path / "one.npz"), "-o", str(tmp_path / "o.csv")])
    assert done.exit_code == 0, done.output
    written = pd.read_csv(tmp_path / "o.csv")["prediction"].tolist()
    assert written == modelpack.load(path).predict(X).tolist()
    done = CliRunner().invoke(cli, ["predict", str(path), "--data", str(tmp_path / "two.npz"), "-o", str(tmp_path / "p.csv")])
    assert done.exit_code == 1 and not (tmp_path / "p.csv").exists()
    assert "two.npz holds 2 arrays (rows, more); the model takes one array of 4 features per row" in done.output
