"""Train the bundled churn model and save it with modelpack.

    python examples/quickstart/train.py [OUT_DIR]

Writes OUT_DIR/churn.joblib (default OUT_DIR: ./out) with the first training rows recorded,
so every later conversion can be checked against what this model predicted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import modelpack

HERE = Path(__file__).parent
NUMERIC = ["tenure_months", "monthly_charges", "support_calls"]
CATEGORICAL = ["contract", "payment"]


def main(out_dir: Path) -> Path:
    data = pd.read_csv(HERE / "churn.csv")
    X, y = data[NUMERIC + CATEGORICAL], data["churn"]
    model = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), NUMERIC),
                ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ]
        ),
        RandomForestClassifier(n_estimators=50, max_depth=6, random_state=0),
    ).fit(X, y)
    path = out_dir / "churn.joblib"
    modelpack.save(model, path, sample=X, overwrite=True)
    print(f"wrote {path} (training accuracy {model.score(X, y):.3f})")
    return path


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("out"))
