"""Rows for a PMML document, drawn from what its DataDictionary allows.

The corpus scores each foreign file with modelpack and with its own runtime on the same rows;
the rows need not be realistic, only valid for the document, so they come from its declared
values and intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelpack.formats.pmml._describe import PmmlDescription


def rows_for(description: PmmlDescription, n: int = 25, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {}
    # every field but the targets: segments of a MiningModel may use fields the top-level
    # MiningSchema does not list, and columns a model does not use are ignored
    names = dict.fromkeys([*description.inputs, *description.data_fields])
    for name in names:
        if name not in description.targets:
            columns[name] = _column(description.data_fields.get(name), n, rng)
    return pd.DataFrame(columns)


def _column(field, n, rng):
    if field is None:
        return rng.normal(size=n)
    if field.values:
        return pd.Series([field.values[i % len(field.values)] for i in rng.permutation(n)], dtype=object)
    low, high = -2.0, 2.0
    if field.intervals:
        left, right = field.intervals[0]
        low = left if left is not None else (right - 4 if right is not None else low)
        high = right if right is not None else low + 4
    values = rng.uniform(low, high, size=n)
    if field.data_type == "integer":
        return np.round(values).astype(np.int64)
    if field.data_type == "string":
        return pd.Series([f"v{i % 3}" for i in range(n)], dtype=object)
    if field.data_type == "boolean":
        return pd.Series([bool(i % 2) for i in range(n)], dtype=object)
    return values
