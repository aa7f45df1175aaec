"""`modelpack serve`: any model file as an HTTP API (Starlette under uvicorn) with a form page.

Needs the ``[serve]`` extra. Every request is validated against the model's input schema;
a bad request gets a 4xx naming the field, never a 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import sys
import time
from collections.abc import Awaitable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, ModelpackError, first_line
from ..metadata import to_jsonable
from ..model import Model

CONFIG_ENV = "MODELPACK_SERVE_CONFIG"
INLINE_BODY = 4096  # bytes: a JSON body this small is parsed and validated on the event loop
log = logging.getLogger("modelpack.serve")


@dataclass(frozen=True)
class ServeConfig:
    path: str
    trust: bool = False
    cors_origins: tuple[str, ...] = ()
    max_rows: int = 1000
    max_body: int = 1 << 20
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    access_log: bool = False
    threads: int = 1  # predictions at once per worker process (each off the event loop)
    max_queue: int = 64  # requests waiting for a thread before the server answers 503
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 5.0
    max_memory: int | None = None
    runtime: str = "native"  # "onnx": serve a pickle/joblib/skops model as its ONNX conversion, if it checks
    inline_budget: float = 0.001  # seconds: a request this model scores faster than this is scored on the loop


def create_app(model: Model, config: ServeConfig) -> Any:
    """The Starlette application serving ``model``."""
    try:
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.middleware.cors import CORSMiddleware
        from starlette.requests import Request
        from starlette.responses import HTMLResponse, JSONResponse, Response
        from starlette.routing import Route
    except ImportError as exc:
        raise MissingDependencyError("modelpack serve needs starlette and uvicorn; run: pip install 'modelpack-ml[serve]'") from exc

    import anyio
    import numpy as np

    from ..data import n_rows
    from ..images import preprocess_of
    from ._deadline import BodyDeadlines
    from ._openapi import openapi
    from ._page import form_page, image_page
    from ._validate import (
        RequestError,
        columns_from_json,
        columns_from_query,
        refuse_unscored,
        rows_with_missing,
        unscored_error,
    )

    class JSONAnswer(JSONResponse):
        """Starlette's JSONResponse, with what UTF-8 cannot carry escaped (see ``_json_bytes``)."""

        def render(self, content: Any) -> bytes:
            return _json_bytes(content)

    schema = model.metadata.input_schema
    if schema is None:
        raise ModelpackError(f"{config.path} records no input schema, so requests cannot be validated; "
                             "save it with sample=X (or convert it with --data) first")
    recipe = preprocess_of(model.metadata)  # a network that takes images: uploads, prepared by its recipe
    if schema.kind == "tensor" and recipe is None:
        raise ModelpackError(f"{config.path} takes tensors but records no image recipe; serve takes rows or images "
                             "(save the model with preprocess=...)")
    page = image_page(model.metadata) if recipe is not None else form_page(model.metadata)
    limiters: list[Any] = []
    deadlines = BodyDeadlines(config.body_timeout)

    def limiter() -> Any:  # created inside the event loop, once
        if not limiters:
            limiters.append(anyio.CapacityLimiter(config.threads))
        return limiters[0]

    spec = openapi(model.metadata, config.max_rows)
    health = {"status": "ok", "format": model.format, "model_type": model.metadata.model_type, "task": model.metadata.task}
    meta = {k: v for k, v in model.metadata.to_dict().items() if k != "sample"}

    can = model.capabilities

    def answer(columns: dict[str, Any], proba: bool) -> dict[str, Any]:
        body: dict[str, Any] = {}
        missing = rows_with_missing(columns)
        try:
            if "predict" in can:
                body["predictions"] = model.predict(columns)
            elif "transform" in can:
                body["transform"] = model.transform(columns)
            if proba and "predict_proba" not in can:
                raise RequestError(400, "this model has no predict_proba; drop ?proba=true")
            if proba or ("predict_proba" in can and missing is not None):
                body["probabilities"] = model.predict_proba(columns)
            refuse_unscored(body, missing, columns)
            if not proba:
                body.pop("probabilities", None)
            else:
                body["classes"] = model.classes_
        except RequestError:
            raise
        except (ModelpackError, ValueError, TypeError, KeyError, OverflowError) as exc:
            # the model refused these values (a missing one, an unknown category with handle_unknown="error")
            if missing is not None:
                raise unscored_error(int(np.flatnonzero(missing)[0]), columns, first_line(exc)) from exc
            raise RequestError(422, f"the model cannot predict for this input: {first_line(exc)}") from exc
        return {k: to_jsonable(v) for k, v in body.items()}

    def wants_proba(request: Request) -> bool:
        if not request.scope.get("query_string"):
            return False
        value = request.query_params.get("proba", "false").lower()
        if value not in ("true", "false", "1", "0"):
            raise RequestError(400, "proba must be true or false")
        return value in ("true", "1")

    def refuse_declared_too_big(scope: Mapping[str, Any]) -> None:
        """413 for a body whose declared length is over --max-body, before any of it is read."""
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > config.max_body:
            raise RequestError(413, f"body of {declared} bytes is over the limit of {config.max_body}")

    async def read_body(request: Request, image: bool = False) -> bytes:
        scope = request.scope
        kind = _header(scope, b"content-type", "application/json").split(";")[0].strip()
        if image and not kind.startswith("image/"):
            raise RequestError(415, "send the image as image/png, image/jpeg, ... or multipart/form-data (field image)")
        if not image and kind != "application/json":
            raise RequestError(415, "send the rows as application/json")
        refuse_declared_too_big(scope)
        chunks, size = [], 0
        receive = request.receive  # read as Starlette's request.stream() reads it, without its generator
        task = deadlines.start()  # one deadline for the whole body, not a task per chunk
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":  # nobody to answer, nothing to log
                    raise RequestError(400, "the client closed the connection before its body arrived")
                if message["type"] != "http.request":
                    continue
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > config.max_body:
                    raise RequestError(413, f"body is over the limit of {config.max_body} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        except asyncio.CancelledError:
            if deadlines.expired(task):
                raise RequestError(408, f"the body did not arrive within {config.body_timeout:g} s") from None
            raise
        finally:
            deadlines.stop(task)
        return b"".join(chunks)

    def parse_json(raw: bytes) -> dict[str, Any]:
        try:
            payload = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))  # json.loads's way
        except RecursionError:
            raise RequestError(400, "the body nests JSON too deep") from None
        except ValueError as exc:
            raise RequestError(400, f"the body is not valid JSON: {exc}") from exc
        return columns_from_json(payload, schema, config.max_rows)

    def score_json(raw: bytes, proba: bool) -> dict[str, Any]:
        return timed(answer, parse_json(raw), proba, clock=time.thread_time)

    cost = ScoringCost()

    def timed(fn: Any, columns: dict[str, Any], proba: bool, clock: Any = time.perf_counter) -> dict[str, Any]:
        rows = n_rows(columns)
        start = clock()
        try:
            return fn(columns, proba)
        finally:
            cost.record(rows, clock() - start)

    async def score(columns: dict[str, Any], proba: bool) -> dict[str, Any]:
        """On the event loop if this model scores these rows within the inline budget: handing a request
        to a thread and back costs more than onnxruntime's scoring of one row (~20 µs against hundreds
        for the hop and the GIL's hand-over). Anything slower, or not yet measured, goes to the pool."""
        if cost.estimate(n_rows(columns)) <= config.inline_budget:
            return timed(answer, columns, proba)
        # In the thread, that thread's CPU time: waiting there for the GIL is not the model's cost.
        return await off_the_loop(timed, answer, columns, proba, time.thread_time)

    pending = 0

    async def off_the_loop(fn: Any, *args: Any) -> Any:
        """Scoring runs in a worker thread so /health and new connections never wait on a model."""
        nonlocal pending
        if pending >= config.max_queue + config.threads:
            raise RequestError(503, "the server is busy; retry shortly", headers={"Retry-After": "1"})
        pending += 1
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=limiter())
        finally:
            pending -= 1

    def score_image(data: bytes, name: str, proba: bool) -> dict[str, Any]:
        assert recipe is not None
        try:
            pixels = recipe.prepare(data, name)
        except ModelpackError as exc:  # unreadable, of another size, a decompression bomb
            raise RequestError(422, first_line(exc)) from exc
        batch = pixels[np.newaxis]
        try:
            body: dict[str, Any] = {"predictions": model.predict(batch)}
            if proba:
                if not hasattr(model, "predict_proba"):
                    raise RequestError(400, "this model has no predict_proba; drop ?proba=true")
                body |= {"probabilities": model.predict_proba(batch), "classes": model.classes_}
        except ModelpackError as exc:
            raise RequestError(422, f"the model cannot predict for this image: {first_line(exc)}") from exc
        return {k: to_jsonable(v) for k, v in body.items()}

    async def read_image(request: Request) -> tuple[bytes, str]:
        if not _header(request.scope, b"content-type", "").startswith("multipart/form-data"):
            return await read_body(request, image=True), "the uploaded image"
        refuse_declared_too_big(request.scope)
        try:
            async with request.form(max_files=1, max_fields=4, max_part_size=config.max_body) as form:
                upload = form.get("image")
                if upload is None or isinstance(upload, str):
                    raise RequestError(422, "the form has no file in its image field", field="image")
                data = await upload.read(config.max_body + 1)
                name = upload.filename or "the uploaded image"
        except RequestError:
            raise
        except Exception as exc:  # python-multipart's and Starlette's refusals of a malformed form
            raise RequestError(400, f"the form cannot be read: {first_line(exc)}") from exc
        if len(data) > config.max_body:
            raise RequestError(413, f"the image is over the limit of {config.max_body} bytes")
        return data, name

    async def answered(work: Awaitable[dict[str, Any]]) -> tuple[int, bytes, dict[str, str]]:
        """The status, JSON body (encoded, as JSONResponse renders it) and extra headers of the answer
        ``work`` makes: its body, the RequestError it raised, or for anything else (a bug of ours or the
        model's) a logged 500, the server running on. A body that cannot be encoded is answered here too."""
        try:
            return 200, _json_bytes(await work), {}
        except RequestError as exc:
            return exc.status, _json_bytes(exc.to_dict()), exc.headers
        except Exception:
            log.exception("prediction failed")
            return 500, _json_bytes({"error": "internal error while predicting; see the server log"}), {}

    async def rows_answer(request: Request) -> dict[str, Any]:
        if recipe is not None:
            raise RequestError(415, "this model takes images: POST one to /predict/image")
        proba = wants_proba(request)
        if request.method == "GET":
            return await score(columns_from_query(request.query_params, schema), proba)
        if len(raw := await read_body(request)) <= INLINE_BODY:  # parsed here in well under a millisecond
            return await score(parse_json(raw), proba)
        return await off_the_loop(score_json, raw, proba)

    async def image_answer(request: Request) -> dict[str, Any]:
        if recipe is None:
            raise RequestError(404, "this model takes rows, not images: POST them to /predict")
        proba = wants_proba(request)
        data, name = await read_image(request)
        return await off_the_loop(score_image, data, name, proba)

    async def responded(work: Awaitable[dict[str, Any]]) -> Response:  # for Starlette's routes
        status, body, headers = await answered(work)
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    async def predict(request: Request) -> Response:
        return await responded(rows_answer(request))

    async def predict_image(request: Request) -> Response:
        return await responded(image_answer(request))

    def constant(response: Response) -> Any:
        async def endpoint(request: Request) -> Response:  # async: Starlette would run a plain function in a thread
            return response

        return endpoint

    routes = [  # matched in order: /predict, which nearly every request asks for, first
        Route("/predict", predict, methods=["GET", "POST"]),
        Route("/", constant(HTMLResponse(page.encode("utf-8", "xmlcharrefreplace")))),
        Route("/predict/image", predict_image, methods=["POST"]),
        Route("/health", constant(JSONAnswer(health))),
        Route("/metadata", constant(JSONAnswer(meta))),
        Route("/openapi.json", constant(JSONAnswer(spec))),
    ]
    middleware = []
    if config.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                                     allow_methods=["GET", "POST"], allow_headers=["Content-Type"]))
        return Starlette(routes=routes, middleware=middleware)  # every request through the CORS middleware
    starlette = Starlette(routes=routes)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """POST /predict, nearly every request, straight to its handler; the rest through Starlette.
        Its routing, middleware and exception wrappers were 10-15 µs of a 115 µs request, and the
        handler answers every exception itself; what it answers is the same either way (tested)."""
        if scope["type"] == "http" and scope["path"] == "/predict" and scope["method"] == "POST":
            await send_json(send, *await answered(rows_answer(Request(scope, receive))))
        else:
            await starlette(scope, receive, send)

    return app


class ScoringCost:
    """What scoring costs this model, learned from its calls: one row's time, and each further row's.

    Two parts because a library's fixed cost per call (a millisecond or more for scikit-learn, tens of
    microseconds for onnxruntime) would make a per-row average of big requests promise fast single rows.
    Unknown until measured: an estimate is infinite until a one-row call (and, for more rows, a
    several-row call) was timed.
    """

    def __init__(self, weight: float = 0.2) -> None:
        self.one_row = self.per_row = math.inf
        self.weight = weight

    def estimate(self, rows: int) -> float:
        return self.one_row if rows <= 1 else self.one_row + (rows - 1) * self.per_row

    def record(self, rows: int, seconds: float) -> None:
        if rows <= 1:
            self.one_row = self._mean(self.one_row, seconds)
        elif self.one_row != math.inf:
            self.per_row = self._mean(self.per_row, max(0.0, seconds - self.one_row) / (rows - 1))

    def _mean(self, old: float, new: float) -> float:  # recent calls weigh most: costs drift (warm-up, load)
        return new if old == math.inf else (1 - self.weight) * old + self.weight * new


def _header(scope: Mapping[str, Any], name: bytes, default: Any = None) -> Any:
    """A request header as Starlette's ``request.headers.get(name, default)`` reads it (the first of that
    name; servers send names in lower case), without building the whole Headers."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return default


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (send null for a missing value)")


# Made once: json.loads and json.dumps make a decoder or an encoder at every call given an option.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))  # as JSONResponse renders


def _json_bytes(content: Any) -> bytes:
    text = _ENCODER.encode(content)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in the model's own labels: \u-escaped, as JSON allows
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


async def send_json(send: Any, status: int, body: bytes, headers: dict[str, str]) -> None:
    """The ASGI messages Starlette's ``Response(body, status, headers, media_type="application/json")``
    sends, without building one."""
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw += [(b"content-length", str(len(body)).encode("latin-1")), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def app_from_environment() -> Any:
    """The app factory uvicorn's worker processes call (``--workers`` > 1)."""
    from ._protocol import HeaderTimeoutProtocol

    config = ServeConfig(**json.loads(os.environ[CONFIG_ENV]))
    HeaderTimeoutProtocol.header_timeout = config.header_timeout
    return create_app(_load(config), config)


def _load(config: ServeConfig) -> Model:
    from ..core import load_cooperative

    return load_cooperative(config.path, trust=config.trust, one_thread=True, max_memory=config.max_memory)


def as_onnx(model: Model, folder: Path) -> tuple[Model, str]:
    """``--runtime onnx``: the model converted to ONNX in memory and checked on the rows recorded with it,
    and what happened; the model itself when there is nothing to check on or the check fails."""
    from ..convert import convert_model
    from ..core import load_cooperative

    if model.format == "onnx":
        return model, "the model is ONNX already"
    if not model.metadata.sample or model.metadata.input_schema is None:  # synthesized rows prove nothing here
        return model, f"no sample rows are recorded with it to check a conversion on; serving {model.format}"
    try:
        result = convert_model(model, folder / "model.onnx")
    except ModelpackError as exc:
        return model, f"it could not be converted to ONNX ({first_line(exc)}); serving {model.format}"
    assert result.report is not None
    if not result.passed:
        failed = ", ".join(c.method for c in result.report.comparisons if not c.passed) or "no method compared"
        return model, f"its ONNX conversion differs on the recorded rows ({failed}); serving {model.format}"
    converted = load_cooperative(result.path, one_thread=True)  # a served session: one thread per worker
    return converted, (f"converted to ONNX in memory ({converted.metadata.extra.get('precision', '?')} precision) "
                       f"and checked on the {result.report.rows} recorded rows: passed; serving the ONNX session")


def serve(config: ServeConfig) -> None:
    """Load the model (failing early on a bad file) and run uvicorn until interrupted."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("modelpack serve needs uvicorn; run: pip install 'modelpack-ml[serve]'") from exc
    from ._protocol import HeaderTimeoutProtocol

    model = _load(config)
    if config.runtime == "onnx":
        import atexit
        import shutil
        import tempfile
        from dataclasses import replace

        folder = Path(tempfile.mkdtemp(prefix="modelpack-serve-"))
        try:
            model, what = as_onnx(model, folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        print(f"modelpack: --runtime onnx: {config.path} {what}", file=sys.stderr, flush=True)
        if config.workers > 1 and model.path is not None and model.path.parent == folder:
            # worker processes load the checked conversion, for as long as the server runs
            config = replace(config, path=str(model.path), runtime="native")
            atexit.register(shutil.rmtree, folder, True)
        else:
            # The session holds what it read. Removed now, not at exit: a single-process uvicorn ends
            # on SIGTERM by raising it again once it has shut down, and atexit does not run then.
            shutil.rmtree(folder, ignore_errors=True)
    HeaderTimeoutProtocol.header_timeout = config.header_timeout
    common: dict[str, Any] = {"host": config.host, "port": config.port, "access_log": config.access_log,
                              "log_level": "info", "http": HeaderTimeoutProtocol, "timeout_keep_alive": config.idle_timeout}
    # Said before uvicorn configures logging, so on stderr directly: which model, where, how.
    print(f"modelpack: serving {config.path} ({model.format}, {model.metadata.model_type}) on "
          f"http://{config.host}:{config.port} with {config.workers} worker(s)", file=sys.stderr, flush=True)
    if config.workers == 1:
        uvicorn.run(create_app(model, config), **common)
        return
    create_app(model, config)  # validate in the parent before forking workers
    os.environ[CONFIG_ENV] = json.dumps(asdict(config))
    uvicorn.run("modelpack.serve:app_from_environment", factory=True, workers=config.workers, **common)
