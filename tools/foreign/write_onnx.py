"""Write ONNX files the way other people's converters do: skl2onnx and onnxmltools defaults.

modelpack's own exports choose their options (no ZipMap, a float64 graph where it helps);
users bring graphs made with the converters' defaults: probabilities as a sequence of maps
(ZipMap), string labels, a DictVectorizer's map input, an input with a fixed batch size of
one, a float16 input, several outputs per row. Run by tools/foreign/build_corpus.py, also
inside an environment with an older skl2onnx (it needs only scikit-learn, numpy and skl2onnx).
Beside each graph: the rows (``.X.npy`` or ``.rows.json``) and what the fitted model predicted.
"""

import json
import sys
from pathlib import Path

import numpy as np
import skl2onnx
import sklearn
from skl2onnx import convert_sklearn, to_onnx
from skl2onnx.common.data_types import DictionaryType, FloatTensorType, StringTensorType
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeRegressor


def _expected(model, X):
    out = {"predict": np.asarray(model.predict(X)).tolist()}
    if hasattr(model, "predict_proba"):
        out["predict_proba"] = model.predict_proba(X).tolist()
        out["classes"] = np.asarray(model.classes_).tolist()
    return out


def write(out: Path, tag: str, onnx_extras: bool = True) -> list[str]:
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    rows = X[::7]
    written = []

    def save(stem, onx, model, data):
        (out / f"{stem}.onnx").write_bytes(onx.SerializeToString())
        if isinstance(data, np.ndarray):
            np.save(out / f"{stem}.X.npy", data)
        else:
            (out / f"{stem}.rows.json").write_text(json.dumps(data))
        (out / f"{stem}.expected.json").write_text(json.dumps(_expected(model, data)))
        written.append(stem)

    # defaults: string labels, probabilities through ZipMap
    model = LogisticRegression(max_iter=500).fit(X, names)
    save(f"logreg-zipmap-skl2onnx{tag}", to_onnx(model, X[:1]), model, rows)
    model = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y)
    save(f"forest-zipmap-skl2onnx{tag}", to_onnx(model, X[:1]), model, rows)
    # a DictVectorizer: the input is one map per row
    records = [{"a": float(r[0]), "b": float(r[1]), **({"c": float(r[2])} if i % 3 else {})} for i, r in enumerate(X)]
    model = make_pipeline(DictVectorizer(sparse=False), LogisticRegression(max_iter=500)).fit(records, names)
    onx = convert_sklearn(model, initial_types=[("input", DictionaryType(StringTensorType([]), FloatTensorType([])))])
    save(f"dictvectorizer-map-input-skl2onnx{tag}", onx, model, records[::7])
    # a batch dimension fixed at 1 (as tf2onnx and hand-written initial types leave it)
    model = DecisionTreeRegressor(max_depth=4, random_state=0).fit(X[:, 1:], X[:, 0])
    onx = convert_sklearn(model, initial_types=[("input", FloatTensorType([1, 3]))])
    save(f"tree-fixed-batch-skl2onnx{tag}", onx, model, rows[:, 1:])
    # two outputs per row
    model = LinearRegression().fit(X[:, :2], X[:, 2:])
    save(f"linear-two-targets-skl2onnx{tag}", to_onnx(model, X[:1, :2]), model, rows[:, :2])
    if onnx_extras:
        save(f"linear-float16-input-skl2onnx{tag}", _float16_input(to_onnx(LinearRegression().fit(X[:, 1:], X[:, 0]),
                                                                          X[:1, 1:])),
             LinearRegression().fit(X[:, 1:], X[:, 0]), rows[:, 1:].astype(np.float16))
    return written


def _float16_input(onx):
    """The same graph behind a float16 input (as half-precision exports take), cast up inside."""
    from onnx import TensorProto, helper

    graph = onx.graph
    original = graph.input[0]
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in original.type.tensor_type.shape.dim]
    half = helper.make_tensor_value_info("input16", TensorProto.FLOAT16, shape)
    cast = helper.make_node("Cast", ["input16"], [original.name], to=TensorProto.FLOAT)
    graph.node.insert(0, cast)
    del graph.input[:]
    graph.input.append(half)
    return onx


def main(out, everything):
    """``everything``: also the float16 graph and onnxmltools' (for the newest environment only)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tag = skl2onnx.__version__
    written = write(out, tag, onnx_extras=everything)
    if everything:
        written += _onnxmltools(out)
    print(json.dumps({"skl2onnx": tag, "sklearn": sklearn.__version__, "written": written}))


def _onnxmltools(out: Path) -> list[str]:
    import lightgbm
    import onnxmltools
    import xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType as MLFloat

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    rows = X[::7]
    tag = onnxmltools.__version__
    written = []
    model = lightgbm.LGBMClassifier(n_estimators=10, num_leaves=8, verbose=-1).fit(X, y)
    onx = onnxmltools.convert_lightgbm(model, initial_types=[("input", MLFloat([None, 4]))])
    stem = f"lightgbm-zipmap-onnxmltools{tag}"
    (out / f"{stem}.onnx").write_bytes(onx.SerializeToString())
    np.save(out / f"{stem}.X.npy", rows)
    (out / f"{stem}.expected.json").write_text(json.dumps(_expected(model, rows)))
    written.append(stem)
    model = xgboost.XGBRegressor(n_estimators=10, max_depth=3).fit(X[:, 1:], X[:, 0])
    onx = onnxmltools.convert_xgboost(model, initial_types=[("input", MLFloat([None, 3]))])
    stem = f"xgboost-regressor-onnxmltools{tag}"
    (out / f"{stem}.onnx").write_bytes(onx.SerializeToString())
    np.save(out / f"{stem}.X.npy", rows[:, 1:])
    (out / f"{stem}.expected.json").write_text(json.dumps(_expected(model, rows[:, 1:])))
    written.append(stem)
    return written


if __name__ == "__main__":
    main(sys.argv[1], "--all" in sys.argv[2:])
