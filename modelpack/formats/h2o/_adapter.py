"""A trained H2O estimator (on a running cluster) seen as a scikit-learn estimator, so that saving
records its schema and its own predictions on the sample rows, which the MOJO is then checked against."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ._mojo import TASKS


class H2oPredictor:
    """``predict``/``predict_proba`` through the cluster's own ``predict``; ``estimator`` is the H2O model."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        output = estimator._model_json["output"]
        self.category = str(output["model_category"])
        names, domains = list(output["names"]), list(output["domains"])
        response = estimator.actual_params.get("response_column") if self.category in TASKS else None
        response = response.get("column_name") if isinstance(response, dict) else response
        self.features = [n for n in names if n != response]
        self.categorical = {n: list(d) for n, d in zip(names, domains) if d is not None and n != response}
        self.classes_ = np.asarray(domains[names.index(response)], dtype=object) \
            if response in names and self.category in ("Binomial", "Multinomial", "Ordinal") else None
        import h2o

        self.__modelpack__: dict[str, Any] = {
            "task": TASKS.get(self.category, "unknown"),
            "model_type": f"h2o.{estimator.algo} ({self.category})",
            "library": "H2O",
            "versions": {"h2o": h2o.__version__},
            "extra": {"h2o_category": self.category},
        }

    def modelpack_input_schema(self) -> Any:
        """The training frame's columns: categoricals as text with their levels, the rest numbers."""
        from ...metadata import FLOAT, STRING, Feature, InputSchema

        return InputSchema(tuple(Feature(n, STRING, tuple(self.categorical[n])) if n in self.categorical
                                 else Feature(n, FLOAT) for n in self.features), "dataframe")

    def input_categories(self) -> dict[str, tuple[str, ...]]:
        return {name: tuple(levels) for name, levels in self.categorical.items()}

    def _cluster_predict(self, X: Any) -> list[list[str]]:
        import h2o

        frame = X if hasattr(X, "columns") else _as_frame(X, self.features)
        types = {n: ("enum" if n in self.categorical else "real") for n in self.features}
        data = frame[self.features].copy()
        for name in self.categorical:  # levels as text ("501" is a level, not a number); missing stays missing
            data[name] = [None if v is None or v != v else str(v) for v in data[name].astype(object)]
        # h2o's pandas upload writes a missing level as the text "nan": say it is missing
        h2o_frame = h2o.H2OFrame(data, column_types=types, na_strings={n: ["nan"] for n in self.categorical} or None)
        answer = self.estimator.predict(h2o_frame)
        rows = answer.as_data_frame(use_pandas=False, header=True)
        h2o.remove(h2o_frame)
        h2o.remove(answer)
        return rows

    def predict(self, X: Any) -> np.ndarray:
        rows = self._cluster_predict(X)
        column = [row[0] for row in rows[1:]]
        if self.category == "Regression":
            return np.asarray(column, dtype=np.float64)
        if self.category == "Clustering":
            return np.asarray(column, dtype=np.float64).astype(np.int64)
        return np.asarray(column, dtype=object)

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.classes_ is None:
            raise AttributeError("only H2O classifiers have class probabilities")
        rows = self._cluster_predict(X)
        header = rows[0]
        columns = [header.index(str(c)) if str(c) in header else header.index(f"p{c}") for c in self.classes_]
        return np.asarray([[float(row[i]) for i in columns] for row in rows[1:]], dtype=np.float64)


def _as_frame(X: Any, names: list[str]) -> Any:
    import pandas as pd

    return pd.DataFrame(np.asarray(X), columns=names)


def is_h2o_model(model: Any) -> bool:
    """Whether ``model`` is a trained H2O estimator, without importing h2o when it is not loaded."""
    h2o = sys.modules.get("h2o.model.model_base")
    return h2o is not None and isinstance(model, h2o.ModelBase)
