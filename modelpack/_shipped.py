"""A model file sent to the workers of a cluster, loaded once per worker process, checked there.

Spark and Dask pickle what a task needs and send it to worker processes, possibly on other
machines. What travels is the model *file* (its bytes, its sidecar, the files it reads beside it
such as an ONNX file's external data, the driver's trust decision), never an unpickled estimator:
each worker loads it through modelpack's own safe loader, once per process, and before scoring
anything re-runs the sample rows recorded in the file. A worker whose libraries score them
differently fails the job with one line.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelpackError
from .metadata import Metadata, sidecar_path
from .registry import get_format

_loaded: dict[str, Any] = {}  # sha256 -> Model, one per worker process
_lock = threading.Lock()


class WorkerCheckError(ModelpackError):
    """A worker scores the model's recorded sample rows differently from where it was saved."""


class ShippedModel:
    """The bytes of a model file (and sidecar) with what the driver decided about it.

    Built on the driver, where the file is loaded once to fail early and to learn the output
    columns; pickled to the workers, where :meth:`model` loads it again, once per process.
    """

    def __init__(self, path: str | os.PathLike[str], *, trust: bool | list[str] = False,
                 max_memory: int | str | None = None) -> None:
        from .core import load

        path = Path(path)
        self.name = path.name
        self.data = path.read_bytes()
        side = sidecar_path(path)
        self.sidecar = side.read_bytes() if side.exists() else None
        self.trust = trust
        self.max_memory = max_memory
        model = load(path, trust=trust, max_memory=max_memory)  # on the driver: refuse early, learn the outputs
        # what else the load read (an ONNX file's external data), under the same names beside it
        self.companions = {name: (path.parent / name).read_bytes()
                           for name in get_format(model.format).companion_files(path)}
        # the key of the worker's cache: the payload and the metadata it is checked against
        digest = hashlib.sha256(self.data + (self.sidecar or b""))
        for name, data in self.companions.items():
            digest.update(f"\0{name}\0{len(data)}\0".encode() + data)
        self.sha256 = digest.hexdigest()
        self.metadata: Metadata = model.metadata
        self.methods = sorted(model.capabilities)
        self.classes = np.asarray(model.classes_).tolist() if model.metadata.classes is not None else None
        _loaded.setdefault(self.sha256, model)

    def model(self) -> Any:
        """The loaded model in this process: loaded and checked on first use, then reused."""
        found = _loaded.get(self.sha256)
        if found is not None:
            return found
        with _lock:
            if self.sha256 not in _loaded:
                _loaded[self.sha256] = self._load_and_check()
        return _loaded[self.sha256]

    def _load_and_check(self) -> Any:
        from .check import verify
        from .core import load_cooperative

        # Every format reads its file whole at load, so the copy goes as soon as the model is loaded:
        # engines end their worker processes without running atexit, which leaked a copy per process.
        folder = Path(tempfile.mkdtemp(prefix="modelpack-worker-"))
        try:
            path = folder / self.name
            path.write_bytes(self.data)
            if self.sidecar is not None:
                sidecar_path(path).write_bytes(self.sidecar)
            for name, data in self.companions.items():  # relative, without "..": checked on the driver
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            # one thread per task: the engine runs as many tasks as the worker has cores
            model = load_cooperative(path, trust=self.trust, one_thread=True, max_memory=self.max_memory)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        report = verify(model)
        if not report.passed and not report.nothing_recorded:
            differing = ", ".join(c.method for c in report.comparisons if not c.passed) or report.verdict
            raise WorkerCheckError(
                f"worker {socket.gethostname()}:{os.getpid()} scores the sample rows recorded in {self.name} "
                f"differently from where it was saved ({differing}); its libraries differ from "
                f"{_versions(self.metadata)}: install those on the workers"
            )
        return model

    def score(self, frame: Any, proba: bool) -> Any:
        """Predictions for one batch (a pandas DataFrame), typed by the model's input contract."""
        from .batch import predictions_frame
        from .data import conform

        model = self.model()
        X = conform(frame, model.metadata.input_schema, f"a batch of {len(frame)} rows")
        return predictions_frame(model, X, proba)

    def output_columns(self, proba: bool) -> list[tuple[str, str]]:
        """(name, kind) of what :meth:`score` returns; kind is "string", "int64", "float64" or "bool"."""
        if "predict" in self.methods:
            columns = [("prediction", _kind_of_labels(self.classes, self.metadata.task))]
        else:
            raise ModelpackError(f"{self.name} has no predict; engines score models that predict")
        if proba:
            if "predict_proba" not in self.methods or self.classes is None:
                raise ModelpackError(f"proba needs a classifier; {self.name} has no predict_proba")
            columns += [(f"proba_{c}", "float64") for c in self.classes]
        return columns


def _kind_of_labels(classes: list[Any] | None, task: str) -> str:
    if classes is None:
        return "int64" if task == "clusterer" else "float64"
    if all(isinstance(c, bool) for c in classes):
        return "bool"
    if all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "int64"
    if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in classes):
        return "float64"
    return "string"


def _versions(metadata: Metadata) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(metadata.versions.items()) if k != "python") or "the driver's"
