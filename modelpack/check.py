"""Proof that two models predict the same: the comparison behind convert, check and verify."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .metadata import to_jsonable, to_rows
from .model import METHODS, Model

WORST_ROWS = 5


@dataclass
class MethodComparison:
    """How one method's outputs (predict, predict_proba or transform) compare."""

    method: str
    kind: str  # "labels" or "numbers"
    rows: int
    passed: bool
    agreement: float | None = None  # share of equal labels
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    worst_rows: list[dict[str, Any]] = field(default_factory=list)
    missing: str | None = None  # the method the second model lacks: why, in words


@dataclass
class EquivalenceReport:
    """The verdict of a comparison, with everything needed to see why.

    ``passed`` is False when anything differs beyond the tolerances, and also when nothing
    could be compared (no rows, or no method both models have).
    """

    a: str
    b: str
    rows: int
    data_source: str
    rtol: float
    atol: float
    min_agreement: float
    comparisons: list[MethodComparison]
    notes: list[str] = field(default_factory=list)
    tolerance_reason: str = ""  # which side's arithmetic set rtol/atol, or "given"
    nothing_recorded: bool = False  # verify on a file that carries no rows to re-run

    @property
    def passed(self) -> bool:
        return self.rows > 0 and bool(self.comparisons) and all(c.passed for c in self.comparisons)

    @property
    def verdict(self) -> str:
        if self.nothing_recorded:
            return "nothing to verify: the file carries no recorded rows"
        if self.rows == 0 or not self.comparisons:
            return "FAILED: nothing was compared"
        return "passed" if self.passed else "FAILED"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        d["verdict"] = self.verdict
        return to_jsonable(d)


def compare_outputs(
    expected: dict[str, np.ndarray],
    actual: dict[str, np.ndarray],
    X: Any,
    *,
    label_methods: set[str],
    rtol: float,
    atol: float,
    min_agreement: float = 1.0,
    lacking: str = "the other model",
    accept_missing: Collection[str] = (),
) -> list[MethodComparison]:
    """Compare the outputs of the methods present in both ``expected`` and ``actual``.

    A method ``expected`` has and ``actual`` lacks is an output dropped: it fails the comparison
    unless named in ``accept_missing``.
    """
    results = []
    for method in METHODS:
        if method in expected and method not in actual:
            kind = "labels" if method in label_methods else "numbers"
            results.append(MethodComparison(method, kind, len(np.asarray(expected[method])), method in accept_missing,
                                            missing=f"not available in {lacking}"))
            continue
        if method not in expected or method not in actual:
            continue
        a, b = np.asarray(expected[method]), np.asarray(actual[method])
        if method in label_methods:
            results.append(_compare_labels(method, a, b, X, min_agreement))
        else:
            results.append(_compare_numbers(method, a, b, X, rtol, atol))
    return results


def _compare_labels(method: str, a: np.ndarray, b: np.ndarray, X: Any, min_agreement: float) -> MethodComparison:
    if a.shape != b.shape:
        return _shape_mismatch(method, "labels", a, b)
    same = np.array([_same_label(x, y) for x, y in zip(a.ravel(), b.ravel())], dtype=bool)
    agreement = float(same.mean()) if same.size else 0.0
    worst = np.flatnonzero(~same)[:WORST_ROWS]
    return MethodComparison(
        method, "labels", len(a), bool(same.size) and agreement >= min_agreement, agreement=agreement,
        worst_rows=_rows(worst, X, a, b),
    )


def _same_label(x: Any, y: Any) -> bool:
    if isinstance(x, (float, np.floating)) and isinstance(y, (float, np.floating)):
        return bool(x == y or (np.isnan(x) and np.isnan(y)))
    return bool(x == y) or str(x) == str(y)  # int64 1 vs "1" from a text-typed runtime


def _compare_numbers(method: str, a: np.ndarray, b: np.ndarray, X: Any, rtol: float, atol: float) -> MethodComparison:
    if a.shape != b.shape:
        return _shape_mismatch(method, "numbers", a, b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    both_nan = np.isnan(a64) & np.isnan(b64)
    diff = np.where(both_nan, 0.0, np.abs(a64 - b64))
    diff = np.where(np.isnan(diff), np.inf, diff)
    magnitude = np.abs(np.nan_to_num(a64, posinf=0.0, neginf=0.0))
    # relative difference only where the expected value is not zero (else it is meaningless)
    rel = np.divide(diff, magnitude, out=np.zeros_like(diff), where=magnitude > 0)
    # Rounding error is relative to the size of the numbers computed, not of each result: a
    # float32 regressor predicting around 30,000 is off by ~1e-4 of that near zero too.
    scale = float(magnitude.max(initial=0.0))
    bad = diff > atol + rtol * scale
    per_row = diff.reshape(len(a), -1).max(axis=1, initial=0.0)
    bad_idx = np.flatnonzero(bad.reshape(len(a), -1).any(axis=1))
    worst = bad_idx[np.argsort(-per_row[bad_idx], kind="stable")][:WORST_ROWS]
    # An output with no values (a MissingIndicator of data with nothing missing) is equal when the
    # shapes are; no rows at all is another matter (the report fails for nothing compared).
    return MethodComparison(
        method, "numbers", len(a), bool(len(a)) and not bad.any(),
        max_abs_diff=float(diff.max()) if diff.size else None,
        max_rel_diff=float(rel.max()) if diff.size else None,
        worst_rows=_rows(worst, X, a, b),
    )


def _shape_mismatch(method: str, kind: str, a: np.ndarray, b: np.ndarray) -> MethodComparison:
    return MethodComparison(
        method, kind, len(a), False,
        worst_rows=[{"row": None, "problem": f"shapes differ: {a.shape} vs {b.shape}"}],
    )


def _rows(indices: np.ndarray, X: Any, a: np.ndarray, b: np.ndarray) -> list[dict[str, Any]]:
    if len(indices) == 0:
        return []
    picked = X.iloc[indices] if hasattr(X, "iloc") else np.asarray(X)[indices]
    inputs = to_rows(picked)
    return [
        {"row": int(i), "input": inp, "a": to_jsonable(a[i]), "b": to_jsonable(b[i])}
        for i, inp in zip(indices, inputs)
    ]


def outputs_of(model: Model, X: Any) -> dict[str, np.ndarray]:
    return {m: np.asarray(getattr(model, m)(X)) for m in METHODS if hasattr(model, m)}


def label_methods(model: Model) -> set[str]:
    """``predict`` returns labels for classifiers and clusterers; numbers otherwise."""
    return {"predict"} if model.metadata.task in ("classifier", "clusterer") else set()


def check(
    a: Model,
    b: Model,
    X: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    min_agreement: float = 1.0,
    data_source: str = "data passed in",
    accept_missing: Collection[str] = (),
) -> EquivalenceReport:
    """Run ``X`` through both models and compare every method they share.

    Tolerances default to the looser of the two models' own (float32's resolution when
    either is a float32 ONNX export; near-exact otherwise). A method ``a`` has and ``b`` lacks
    (``predict_proba`` dropped by a conversion) fails the check unless named in ``accept_missing``.

    Example:
        >>> report = modelpack.check(modelpack.load("m.joblib"), modelpack.load("m.onnx"), X_test)  # doctest: +SKIP
        >>> report.passed                                                                          # doctest: +SKIP
    """
    reason = "given" if rtol is not None or atol is not None else _tolerance_reason(a, b)
    rtol = max(a.tolerance[0], b.tolerance[0]) if rtol is None else rtol
    atol = max(a.tolerance[1], b.tolerance[1]) if atol is None else atol
    rows = len(X)
    comparisons = (
        compare_outputs(
            outputs_of(a, X), outputs_of(b, X), X,
            label_methods=label_methods(a), rtol=rtol, atol=atol, min_agreement=min_agreement,
            lacking=_lacking(b), accept_missing=accept_missing,
        )
        if rows
        else []
    )
    report = EquivalenceReport(
        a=_name(a), b=_name(b), rows=rows, data_source=data_source, rtol=rtol, atol=atol,
        min_agreement=min_agreement, comparisons=comparisons, tolerance_reason=reason,
    )
    _add_notes(report, a, b)
    return report


def verify(model: Model) -> EquivalenceReport:
    """Re-run the sample rows recorded in ``model``'s metadata and compare with the recorded outputs."""
    meta = model.metadata
    source = f"sample rows recorded in {model.path.name if model.path else 'the file'}"
    if meta.sample is None or meta.input_schema is None or not meta.sample.inputs:
        if model.embedded_rows:
            return _verify_embedded(model)
        report = EquivalenceReport(_name(model), "recorded outputs", 0, source, *model.tolerance, 1.0, [],
                                   nothing_recorded=True)
        name = model.path.name if model.path else "FILE"
        report.notes.append(
            f"{name} carries no sample rows and no verification data, so there is nothing to re-run; prove it on "
            f"your data against the model it came from: modelpack check ORIGINAL {name} --data ROWS.csv")
        return report
    X = meta.sample.frame(meta.input_schema)
    labels = label_methods(model)
    recorded = {
        m: np.asarray(v, dtype=object if _has_str(v) else (None if m in labels else np.float64))
        for m, v in meta.sample.outputs.items()
    }
    fresh = outputs_of(model, X)
    rtol, atol = model.tolerance
    comparisons = compare_outputs(recorded, fresh, X, label_methods=labels, rtol=rtol, atol=atol,
                                  lacking=_lacking(model))
    report = EquivalenceReport(
        a="recorded outputs", b=_name(model), rows=len(X), data_source=source, rtol=rtol, atol=atol,
        min_agreement=1.0, comparisons=comparisons, tolerance_reason=f"{model.format}: {model.arithmetic}",
    )
    _add_notes(report, None, model)
    return report


def _verify_embedded(model: Model) -> EquivalenceReport:
    """The file's own verification rows (PMML ModelVerification), scored and compared by its runtime."""
    from .errors import ModelpackError

    rows = model.embedded_rows or 0
    comparison = MethodComparison("embedded verification", "numbers", rows, True)
    try:
        model.self_check()
    except ModelpackError as exc:
        comparison.passed = False
        comparison.worst_rows = [{"problem": str(exc)}]
    source = f"the {rows} verification rows embedded in {model.path.name if model.path else 'the file'}"
    return EquivalenceReport(_name(model), "embedded expected outputs", rows, source, *model.tolerance, 1.0,
                             [comparison], tolerance_reason="the file's own (JPMML compares with its precision)")


def _tolerance_reason(a: Model, b: Model) -> str:
    """The arithmetic of the looser side: that is what the tolerance follows."""
    looser = max((a, b), key=lambda m: m.tolerance)
    other = b if looser is a else a
    if looser.tolerance == other.tolerance and looser.arithmetic == other.arithmetic:
        return f"both {looser.arithmetic.replace('computes', 'compute')}"
    return f"{looser.format}: {looser.arithmetic}"


def _lacking(model: Model) -> str:
    return f"{model.format} for {model.metadata.model_type.rsplit('.', 1)[-1]}"


def _has_str(values: Any) -> bool:
    return any(isinstance(v, str) for v in np.ravel(np.asarray(values, dtype=object)))


def _name(model: Model) -> str:
    return f"{model.path} ({model.format})" if model.path else model.format


def _add_notes(report: EquivalenceReport, a: Model | None, b: Model) -> None:
    for method, why in (a.withheld if a is not None else {}).items():
        if hasattr(b, method):
            report.notes.append(f"{method} is not compared: {why}")
    if report.passed:
        return
    for c in report.comparisons:
        if c.missing and not c.passed:
            report.notes.append(
                f"{c.method} is {c.missing}; if you do not need it, pass --accept-missing {c.method} "
                f"(accept_missing=[{c.method!r}])"
            )
    if b.metadata.extra.get("precision") == "float" and b.metadata.task in ("classifier", "clusterer", "regressor"):
        report.notes.append(
            f"{b.format} was written in float32, which rounds inputs and tree thresholds; "
            "convert again with --precision double (precision='double')"
        )
