"""save and load: the one interface over every format."""

from __future__ import annotations

import _thread
import os
from pathlib import Path
from typing import Any

from ._atomic import atomic_paths, refuse_overwrite
from .errors import CorruptFileError, ModelpackError, UnsupportedModelError, a_or_an, first_line
from .metadata import Metadata, build_metadata, read_sidecar, sha256_of, sidecar_path
from .model import Model
from .registry import Format, NotThisFormat, candidates_for_load, format_for_save

PathLike = str | os.PathLike[str]


def save(
    model: Any,
    path: PathLike,
    *,
    format: str | None = None,
    sample: Any = None,
    overwrite: bool = False,
    classes: list[Any] | None = None,
    preprocess: dict[str, Any] | None = None,
    **options: Any,
) -> Metadata:
    """Write a fitted model to ``path`` in the format its extension (or ``format``) names.

    Args:
        model: a fitted scikit-learn-style estimator, or a :class:`Model` loaded by modelpack.
        path: where to write. Written atomically; an existing file is kept unless ``overwrite``.
        format: a format name (``modelpack formats`` lists them); default from the extension.
        sample: a few training rows (DataFrame or array). modelpack records their schema and
            the model's outputs for them, so any export can be verified later. ONNX and PMML
            use it to infer input types.
        overwrite: replace an existing file.
        classes: for a Keras classifier, the labels of its outputs in order (default 0..k-1 for
            a softmax head, 0/1 for a single sigmoid); they travel in the metadata and name the
            outputs of every export.
        preprocess: for a network that takes images, how pixels become its input
            (``{"size": [64, 64], "mode": "RGB", "scale": 1/255, "mean": [...], "std": [...]}``, see
            :class:`modelpack.images.Preprocess`); recorded in the metadata so that predicting
            on a folder of images, converting with one, and ``serve``'s uploads prepare pixels alike.
        **options: format options, e.g. ``compress=3`` (joblib), ``precision="double"`` (onnx).

    Returns:
        The :class:`Metadata` recorded with the file.

    Example:
        >>> modelpack.save(clf, "model.joblib", sample=X_train[:100])  # doctest: +SKIP
    """
    path = Path(path)
    fmt = format_for_save(path, format)
    fmt.ensure_available()
    # What the caller can fix is said before any work: an option the format lacks (a misspelt
    # overwrite=True, say) before the target exists, and both before the sample is scored.
    if fmt.save_options is not None:
        fmt.reject_options(options, fmt.save_options)
    refuse_overwrite(path, overwrite)
    if preprocess is None and isinstance(model, Model):  # a conversion keeps the source's recipe
        preprocess = model.metadata.extra.get("preprocess")
    estimator, sample = _unwrap(model, sample, classes)
    extra: dict[str, Any] = {"preprocess": _recipe(preprocess)} if preprocess is not None else {}
    withheld = model.withheld if isinstance(model, Model) else {}
    if withheld:  # the source's scikit-learn would answer them otherwise than the version that fitted it
        if fmt.holds_python_object:  # and a file pickled here would record this version, hiding that
            raise UnsupportedModelError(f"{model.path.name if model.path else 'this model'} cannot be saved as "
                                        f"{fmt.name} here: {next(iter(withheld.values()))}")
        extra["withheld_by_source"] = dict(withheld)  # neither recorded nor compared
    metadata = build_metadata(estimator, fmt.name, sample, extra=extra or None, skip=withheld)
    inside = fmt.stores_metadata_inside()
    targets = [path] if inside else [path, sidecar_path(path)]
    with atomic_paths(*targets, overwrite=overwrite) as temps:
        metadata = fmt.save(estimator, temps[0], metadata, sample=sample, **options)
        if not inside:
            metadata = metadata.replace(sha256=sha256_of(temps[0]))
            temps[1].write_text(metadata.to_json(), encoding="utf-8")
    return metadata


def _recipe(preprocess: Any) -> dict[str, Any]:
    from .images import Preprocess

    return (preprocess if isinstance(preprocess, Preprocess) else Preprocess.from_dict(preprocess)).to_dict()


def _unwrap(model: Any, sample: Any, classes: list[Any] | None = None) -> tuple[Any, Any]:
    """A loaded :class:`Model` is saved as its estimator, with its recorded sample rows; a Keras
    network as an estimator-like adapter that gives labels as well as probabilities."""
    from .formats.keras._adapter import KerasPredictor, is_keras_model
    from .formats.torch._adapter import TorchPredictor, is_torch_model

    if is_keras_model(model):
        return KerasPredictor(model, classes), sample
    if is_torch_model(model):
        return TorchPredictor(model, classes, example=sample), sample
    from .formats.h2o._adapter import H2oPredictor, is_h2o_model

    if is_h2o_model(model):
        return H2oPredictor(model), sample
    if classes is not None:
        raise UnsupportedModelError(
            f"classes= names the outputs of a Keras or PyTorch network; {a_or_an(type(model).__name__)} has its own classes_")
    if not isinstance(model, Model):
        return model, sample
    if sample is None and model.metadata.sample and model.metadata.input_schema:
        sample = model.metadata.sample.frame(model.metadata.input_schema)
    if sample is not None and hasattr(sample, "columns") and model.metadata.input_schema is not None:
        # the rows its estimator is run on to record outputs: missing text as that estimator learned it
        from .data import conform

        sample = conform(sample, model.metadata.input_schema, "the sample", model.text_missing)
    try:
        return model.to_sklearn(), sample
    except UnsupportedModelError as exc:
        raise UnsupportedModelError(
            f"{model.path or 'this model'} cannot be re-saved: {exc}"
        ) from exc


def load(
    path: PathLike,
    *,
    format: str | None = None,
    trust: bool | list[str] = False,
    max_memory: int | str | None = None,
    **options: Any,
) -> Model:
    """Load any model file modelpack knows into a :class:`Model`.

    The format is found from the content (and the extension when the content is ambiguous).
    Pickle and joblib files are unpickled through an allowlist of model classes; skops files
    with skops' own trust check.

    Args:
        path: the model file.
        format: force a format instead of detecting it.
        trust: ``True`` to run whatever code the file names (only for files you made or
            checked), or a list of ``"module.Name"`` globals to admit beside the allowlist.
        max_memory: the most a pickle, joblib or skops file may make modelpack allocate while
            loading, and the most the members of a zip (skops, ``.keras``, ``.pt2``, MOJO) may
            inflate to (``"2GiB"`` or bytes); default 100× the file's size, at least 256 MiB.

    Raises:
        UntrustedContentError: the file names code outside the allowlist, holds state that
            native code could not use safely, or (ONNX) reads external data from outside its folder.
        ResourceLimitError: loading would take more memory or depth than allowed.
        CorruptFileError: empty, truncated or mislabelled, or changed since saved (sha256).
        UnknownFormatError: no format recognises the file.
        MissingDependencyError: the format's library is not installed.
    """
    path = Path(path)
    candidates = candidates_for_load(path, format)
    metadata = read_sidecar(path)
    if max_memory is not None:
        options["max_memory"] = max_memory
    if metadata is None or not metadata.sha256:
        return _load_first(candidates, path, metadata, None, trust=trust, **options)
    # one read for both the checksum and a format that loads from bytes (another reads the file itself)
    takes_bytes = any(type(fmt).load_bytes is not Format.load_bytes for fmt in candidates)
    data = _read_whole(path, READ_WHOLE) if takes_bytes else None
    if data is None or trust or len(data) < HASH_BESIDE:  # trust=[...] runs the code it names
        metadata = _matching(path, metadata, sha256_of(path if data is None else data))
        return _load_first(candidates, path, metadata, data, trust=trust, **options)
    # Loading without trust runs nothing from the file, so it starts while a thread hashes the same
    # bytes (hashlib lets go of the GIL); the model is returned only if they match the sidecar.
    digest = _Digest(data)
    try:
        model = _load_first(candidates, path, metadata, data, trust=trust, **options)
    except BaseException:
        _matching(path, metadata, digest.result())  # a changed file is said as such, not by what loading it met
        raise
    matching = _matching(path, metadata, digest.result())
    if matching is not metadata:  # the pending sidecar of a save killed midway: load with what it records
        return _load_first(candidates, path, matching, data, trust=trust, **options)
    return model


def _matching(path: Path, metadata: Metadata, actual: str | None) -> Metadata:
    """The sidecar's metadata that records ``actual``, the file's sha256; a CorruptFileError if none does."""
    if actual == metadata.sha256:
        return metadata
    found = read_sidecar(path, actual)  # the pending sidecar of a save killed midway, if any
    if found is None or actual is None or found.sha256 != actual:
        raise CorruptFileError(
            f"{path} has changed since it was saved (its sha256 no longer matches "
            f"{sidecar_path(path).name}); refusing to load it. If the change is yours, "
            "delete the sidecar"
        )
    return found


def _load_first(candidates: list[Any], path: Path, metadata: Metadata | None, data: bytes | None,
                **options: Any) -> Model:
    """The model from the first candidate format that reads the file."""
    last: NotThisFormat | None = None
    for fmt in candidates:
        fmt.ensure_available()
        try:
            return _load_with(fmt, path, metadata, data, **options)
        except NotThisFormat as exc:
            last = exc
    raise CorruptFileError(f"{path} could not be read as {', '.join(f.name for f in candidates)} ({last})")


#: From this size, a file's checksum is computed beside the loading (see ``load``); below it, a
#: thread's start costs more than hashing (SHA-256 runs at ~1.7 GB/s here).
HASH_BESIDE = 1 << 20


class _Digest:
    """The sha256 of ``data``, computed in a thread; ``result()`` waits for it (None if hashing failed).

    A bare thread: ``threading.Thread.start`` waits until the new thread runs (0.25-0.3 ms here). This
    one starts hashing when the loading thread next hands over the GIL (within the 5 ms switch
    interval), or when ``result()`` waits; a forest's load takes 15 ms, its hash 1.3 ms."""

    def __init__(self, data: bytes) -> None:
        self.hex: str | None = None
        self._done = _thread.allocate_lock()
        self._done.acquire()
        _thread.start_new_thread(self._run, (data,))

    def _run(self, data: bytes) -> None:
        try:
            self.hex = sha256_of(data)
        finally:
            self._done.release()

    def result(self) -> str | None:
        with self._done:
            return self.hex


def load_cooperative(path: PathLike, *, trust: bool | list[str] = False, one_thread: bool = False,
                     max_memory: int | str | None = None) -> Model:
    """``load`` for a model that shares the cores with other busy work (see ``Format.cooperative_options``)."""
    fmt = candidates_for_load(Path(path))[0]
    options = fmt.cooperative_options(one_thread=one_thread)
    # without format options, every candidate stays in play (a joblib file named .sav sniffs as pickle)
    return load(path, format=fmt.name if options else None, trust=trust, max_memory=max_memory, **options)


#: A file whose sidecar records its sha256, up to this size, is read once: hashed, then loaded from
#: the same bytes (``Format.load_bytes``). A larger one is hashed as it is read, then loaded from the file.
READ_WHOLE = 64 << 20


def _read_whole(path: Path, limit: int) -> bytes | None:
    """The file's bytes, or None when it is over ``limit`` bytes or grew while it was read."""
    with open(path, "rb", buffering=0) as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:
            return None
        data = fh.read(size)  # shorter if the file shrank since: the checksum decides
        if len(data) == size and fh.read(1):
            return None  # it grew since: hashed as it streams and loaded by its path, as a big file is
        return data


def _load_with(fmt: Any, path: Path, metadata: Metadata | None, data: bytes | None = None, **options: Any) -> Model:
    try:
        if data is not None:
            return fmt.load_bytes(data, path, metadata, **options)
        return fmt.load(path, metadata, **options)
    except (ModelpackError, NotThisFormat, FileNotFoundError):
        raise
    except Exception as exc:  # the library's own error on a damaged file
        raise CorruptFileError(
            f"{path} could not be read as {fmt.name}: {type(exc).__name__}: {first_line(exc)}"
        ) from exc
