"""Change one piece of a fitted model's state at a time, load it with modelpack and score it: find crashes.

    python tools/fuzz_model_state.py            # every estimator, about 6,700 cases, 5-10 minutes
    python tools/fuzz_model_state.py --skops    # the same cases written as skops files

A pickle is a fitted model's attributes, and a hostile file can set any of them; modelpack admits the
classes and checks what native code relies on (safety/_policy.py). This takes every estimator
scikit-learn lists that fits with its defaults (tests/safety/test_allowlist.py), and for each array,
integer and list attribute, and those of the estimators it holds, writes a pickle with that attribute
changed (cut to one element or none, indices made huge or negative, columns or rows dropped, floats
made NaN, float32 or integers, counts made large, zero or negative), loads it with ``modelpack.load``
and calls predict, predict_proba and transform. Most changes are refused at load or raise at predict;
what must never happen is a process killed by a signal or by libgomp, or the memory running out.
Cases run in a child process that says which case it starts; when it dies, the case is reported and
the next child starts after it. Exit status 1 if any case killed its process.

Found and guarded this way (tests/safety/hostile.py): GradientBoosting stages wider than their
initial predictions, CSR matrices indexing past their operand, a regression SVM with one support
count, k-means with a negative thread count, a feature agglomeration label of 10**8.
"""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
Change = Callable[[Any], Any]


def _changes(value: Any) -> Iterator[tuple[str, Change]]:
    """Ways to change one attribute's value."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.size:
        yield "first", lambda v: v.reshape(-1)[:1].reshape((1,) * v.ndim) if v.ndim else v
        yield "empty", lambda v: v[:0]
        if value.dtype.kind in "iu":
            yield "huge", lambda v: np.full_like(v, 10**8 if v.dtype.itemsize >= 4 else 100)
        if value.dtype.kind == "i":
            yield "negative", lambda v: np.full_like(v, -10**8 if v.dtype.itemsize >= 4 else -100)
        if value.ndim == 2 and value.shape[1] > 1:
            yield "one column", lambda v: np.ascontiguousarray(v[:, :1])
        if value.ndim == 2 and value.shape[0] > 1:
            yield "one row", lambda v: np.ascontiguousarray(v[:1])
        if value.dtype.kind == "f":
            yield "nan", lambda v: np.full_like(v, np.nan)
            yield "float32", lambda v: v.astype(np.float32)
            yield "int64", lambda v: v.astype(np.int64)
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        yield "large", lambda v: 10**6
        yield "zero", lambda v: 0
        yield "negative", lambda v: -5
    elif isinstance(value, list) and value:
        yield "first", lambda v: v[:1]
    elif isinstance(value, np.ndarray) and value.dtype == object and value.size:
        yield "first", lambda v: v.reshape(-1)[:1].reshape((1,) * v.ndim)


def _is_estimator(value: Any) -> bool:
    return hasattr(value, "__dict__") and not isinstance(value, type) and type(value).__module__.startswith("sklearn")


def _attributes(est: Any, prefix: str = "", nested: bool = True) -> Iterator[tuple[str, Change, str]]:
    """(path, change, its name) for each attribute, and those of the estimators it holds, one level down."""
    for name, value in vars(est).items():
        if nested and _is_estimator(value):
            yield from _attributes(value, f"{name}.", nested=False)
        if nested and isinstance(value, (list, np.ndarray)) and len(value):
            first = value[0] if isinstance(value, list) else value.reshape(-1)[0] if value.dtype == object else None
            if _is_estimator(first):
                yield from _attributes(first, f"{name}[0].", nested=False)
        for how, change in _changes(value):
            yield prefix + name, change, how


def _apply(model: Any, path: str, change: Change) -> None:
    target, leaf = model, path
    while "." in leaf:
        head, leaf = leaf.split(".", 1)
        if head.endswith("[0]"):
            held = getattr(target, head[:-3])
            target = held[0] if isinstance(held, list) else held.reshape(-1)[0]
        else:
            target = getattr(target, head)
    setattr(target, leaf, change(getattr(target, leaf)))


def cases() -> Iterator[tuple[str, Any, Any, str, Change]]:
    sys.path.insert(0, str(ROOT / "tests"))
    from safety.test_allowlist import _every_estimator

    for name, estimator, rows in _every_estimator():
        for path, change, how in _attributes(estimator):
            yield f"{name}: {path} {how}", estimator, rows, path, change


def child(start: int, skops: bool) -> None:
    """Run the cases from ``start``, saying which one starts, flushed, before it runs."""
    import modelpack

    warnings.simplefilter("ignore")
    path = Path(tempfile.mkdtemp()) / ("m.skops" if skops else "m.pkl")
    for i, (label, estimator, rows, attribute, change) in enumerate(cases()):
        if i < start:
            continue
        model = copy.deepcopy(estimator)
        try:
            _apply(model, attribute, change)
            if skops:
                import skops.io

                skops.io.dump(model, path)
            else:
                path.write_bytes(pickle.dumps(model, protocol=5))
        except Exception:  # noqa: BLE001  the change cannot be made or pickled: nothing to try
            continue
        print(f"START {i} {label}", flush=True)
        try:
            loaded = modelpack.load(path).native
        except Exception:  # noqa: BLE001  refused, as it should be
            continue
        for method in ("predict", "predict_proba", "transform"):
            if hasattr(loaded, method):
                try:
                    getattr(loaded, method)(rows)
                except Exception:  # noqa: BLE001  an error is an answer; a dead process is not
                    pass
    print("DONE", flush=True)


def main(skops: bool) -> int:
    start, killed = 0, []
    while True:
        done = subprocess.run([sys.executable, __file__, "--child", str(start), *(["--skops"] if skops else [])],
                              capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        started = [line for line in done.stdout.splitlines() if line.startswith(("START", "DONE"))]
        if started and started[-1] == "DONE":
            break
        if not started:
            print(f"the cases could not be listed: {done.stderr[-2000:]}", file=sys.stderr)
            return 2
        _, number, label = started[-1].split(" ", 2)
        killed.append(label)
        print(f"KILLED (exit {done.returncode}): {label}", flush=True)
        start = int(number) + 1
    print(f"every case run; {len(killed)} killed their process")
    return 1 if killed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]), "--skops" in sys.argv)
    else:
        sys.exit(main("--skops" in sys.argv))
