"""Writes churn.csv, the small bundled data set (run once; the CSV is committed)."""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(42)
n = 400
df = pd.DataFrame(
    {
        "tenure_months": rng.integers(1, 72, n),
        "monthly_charges": rng.normal(65, 20, n).round(2).clip(15, 130),
        "support_calls": rng.poisson(1.5, n),
        "contract": rng.choice(["month-to-month", "one-year", "two-year"], n, p=[0.5, 0.3, 0.2]),
        "payment": rng.choice(["card", "bank", "check"], n),
    }
)
score = (
    -0.04 * df["tenure_months"]
    + 0.03 * df["monthly_charges"]
    + 0.5 * df["support_calls"]
    + np.where(df["contract"] == "month-to-month", 1.2, -0.8)
    + rng.normal(0, 0.7, n)
)
df["churn"] = np.where(score > 0.6, "yes", "no")
df.to_csv(Path(__file__).with_name("churn.csv"), index=False)
