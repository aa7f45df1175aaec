"""`modelpack serve`: any model file as an HTTP API (Starlette under uvicorn) with a form page.

Needs the ``[serve]`` extra. Every request is validated against the model's input schema;
a bad request gets a 4xx naming the field, never a 500.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import MissingDependencyError, ModelpackError, first_line
from ..metadata import to_jsonable
from ..model import Model

CONFIG_ENV = "MODELPACK_SERVE_CONFIG"
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
        raise MissingDependencyError("modelpack serve needs starlette and uvicorn; run: pip install 'modelpack[serve]'") from exc

    from ._openapi import openapi
    from ._page import form_page
    from ._validate import RequestError, columns_from_json, columns_from_query

    schema = model.metadata.input_schema
    if schema is None:
        raise ModelpackError(f"{config.path} records no input schema, so requests cannot be validated; "
                             "save it with sample=X (or convert it with --data) first")
    page = form_page(model.metadata)
    spec = openapi(model.metadata, config.max_rows)
    health = {"status": "ok", "format": model.format, "model_type": model.metadata.model_type, "task": model.metadata.task}
    meta = {k: v for k, v in model.metadata.to_dict().items() if k != "sample"}

    def answer(columns: dict[str, Any], proba: bool) -> dict[str, Any]:
        body: dict[str, Any] = {}
        try:
            if hasattr(model, "predict"):
                body["predictions"] = to_jsonable(model.predict(columns))
            elif hasattr(model, "transform"):
                body["transform"] = to_jsonable(model.transform(columns))
            if proba:
                if not hasattr(model, "predict_proba"):
                    raise RequestError(400, "this model has no predict_proba; drop ?proba=true")
                body["probabilities"] = to_jsonable(model.predict_proba(columns))
                body["classes"] = to_jsonable(model.classes_)
        except RequestError:
            raise
        except (ModelpackError, ValueError, TypeError, KeyError) as exc:
            # the model refused these values (an unknown category with handle_unknown="error", ...)
            raise RequestError(422, f"the model cannot predict for this input: {first_line(exc)}") from exc
        return body

    def wants_proba(request: Request) -> bool:
        value = request.query_params.get("proba", "false").lower()
        if value not in ("true", "false", "1", "0"):
            raise RequestError(400, "proba must be true or false")
        return value in ("true", "1")

    async def read_json(request: Request) -> Any:
        if request.headers.get("content-type", "application/json").split(";")[0].strip() != "application/json":
            raise RequestError(415, "send the rows as application/json")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > config.max_body:
            raise RequestError(413, f"body of {declared} bytes is over the limit of {config.max_body}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > config.max_body:
                raise RequestError(413, f"body is over the limit of {config.max_body} bytes")
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks), parse_constant=_refuse_constant)
        except ValueError as exc:
            raise RequestError(400, f"the body is not valid JSON: {exc}") from exc

    async def predict_post(request: Request) -> Response:
        proba = wants_proba(request)
        columns = columns_from_json(await read_json(request), schema, config.max_rows)
        return JSONResponse(answer(columns, proba))

    async def predict_get(request: Request) -> Response:
        proba = wants_proba(request)
        return JSONResponse(answer(columns_from_query(request.query_params, schema), proba))

    async def predict(request: Request) -> Response:
        try:
            return await (predict_post(request) if request.method == "POST" else predict_get(request))
        except RequestError as exc:
            return JSONResponse(exc.to_dict(), status_code=exc.status)
        except Exception:  # a bug of ours or the model's: logged, answered, the server keeps running
            log.exception("prediction failed")
            return JSONResponse({"error": "internal error while predicting; see the server log"}, status_code=500)

    routes = [
        Route("/", lambda request: HTMLResponse(page)),
        Route("/predict", predict, methods=["GET", "POST"]),
        Route("/health", lambda request: JSONResponse(health)),
        Route("/metadata", lambda request: JSONResponse(meta)),
        Route("/openapi.json", lambda request: JSONResponse(spec)),
    ]
    middleware = []
    if config.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                                     allow_methods=["GET", "POST"], allow_headers=["Content-Type"]))
    return Starlette(routes=routes, middleware=middleware)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (send null for a missing value)")


def app_from_environment() -> Any:
    """The app factory uvicorn's worker processes call (``--workers`` > 1)."""
    config = ServeConfig(**json.loads(os.environ[CONFIG_ENV]))
    return create_app(_load(config), config)


def _load(config: ServeConfig) -> Model:
    from ..core import load_cooperative

    return load_cooperative(config.path, trust=config.trust, one_thread=True)


def serve(config: ServeConfig) -> None:
    """Load the model (failing early on a bad file) and run uvicorn until interrupted."""
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("modelpack serve needs uvicorn; run: pip install 'modelpack[serve]'") from exc
    model = _load(config)
    common: dict[str, Any] = {"host": config.host, "port": config.port, "access_log": config.access_log, "log_level": "info"}
    if config.workers == 1:
        uvicorn.run(create_app(model, config), **common)
        return
    create_app(model, config)  # validate in the parent before forking workers
    os.environ[CONFIG_ENV] = json.dumps(asdict(config))
    uvicorn.run("modelpack.serve:app_from_environment", factory=True, workers=config.workers, **common)


def dockerfile(config: ServeConfig, requires: list[str]) -> str:
    """A Dockerfile that runs the same server for the same model file."""
    from .. import __version__

    extras = ",".join(sorted({"serve", *requires}))
    name = Path(config.path).name
    sidecar = f"COPY {name}.modelpack.json /models/\n" if Path(config.path + ".modelpack.json").exists() else ""
    cors = "".join(f', "--cors-origin", "{o}"' for o in config.cors_origins)
    trust = ', "--trust"' if config.trust else ""
    return f"""# Serves {name} with modelpack {__version__}: docker build -t {Path(name).stem}-api . && docker run -p {config.port}:{config.port} {Path(name).stem}-api
FROM python:3.11-slim
RUN pip install --no-cache-dir "modelpack[{extras}]=={__version__}"
RUN useradd --create-home modelpack
COPY {name} /models/
{sidecar}USER modelpack
EXPOSE {config.port}
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{config.port}/health')"
CMD ["modelpack", "serve", "/models/{name}", "--host", "0.0.0.0", "--port", "{config.port}", "--workers", "{config.workers}", "--max-rows", "{config.max_rows}"{cors}{trust}]
"""
