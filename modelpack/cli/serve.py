"""modelpack serve: any model file as an HTTP API with a form page."""

from __future__ import annotations

from pathlib import Path

import click

from ..registry import candidates_for_load
from ._options import trust


@click.command("serve")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--cors-origin", "cors_origins", multiple=True, help="Allow browser calls from this origin (repeatable); CORS is off without it.")
@click.option("--max-rows", type=click.IntRange(min=1), default=1000, show_default=True, help="Most rows per request.")
@click.option("--max-body", type=click.IntRange(min=1), default=1 << 20, show_default=True, help="Largest request body, in bytes.")
@click.option("--access-log", is_flag=True, help="Log every request.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Predictions at once per worker, each off the event loop.")
@click.option("--max-queue", type=click.IntRange(min=0), default=64, show_default=True,
              help="Requests waiting for a prediction thread before the server answers 503.")
@click.option("--inline-ms", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="A request this model is measured to score within this many milliseconds is scored on the event "
                   "loop, without the hand-over to a thread (which costs more); 0 sends every request to the threads.")
@click.option("--header-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds a client has to send a request's headers.")
@click.option("--body-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds a client has to send a request's body.")
@click.option("--idle-timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds an idle keep-alive connection stays open.")
@click.option("--dockerfile", "dockerfile_path", type=click.Path(file_okay=False),
              help="Write a Docker build context serving FILE this way into this folder (the model, a wheel "
                   "of this modelpack, pinned requirements, the Dockerfile), and exit.")
@click.option("--force", is_flag=True, help="With --dockerfile: replace the folder if it exists.")
@click.option("--runtime", type=click.Choice(["native", "onnx"]), default="native", show_default=True,
              help="onnx: serve a pickle, joblib or skops model as its ONNX conversion, made at start and checked on "
                   "the rows recorded with the model; if it cannot be made or does not pass, the model itself is served.")
@trust
def command(file: str, host: str, port: int, workers: int, cors_origins: tuple[str, ...], max_rows: int, max_body: int,
            access_log: bool, threads: int, max_queue: int, inline_ms: float, header_timeout: float, body_timeout: float,
            idle_timeout: float, dockerfile_path: str | None, force: bool, runtime: str, trust: bool, max_memory: int | None) -> None:
    """Serve FILE as an HTTP API: POST/GET /predict, /health, /metadata, /openapi.json, and a form at /.

    \b
    Example:
      modelpack serve model.onnx --port 8000 --workers 2
      curl -d '[{"age": 42, "city": "Paris"}]' -H 'Content-Type: application/json' 'localhost:8000/predict?proba=true'
    """
    from ..serve import ServeConfig, serve  # asyncio and the server's modules: not for every command's start

    config = ServeConfig(file, trust, cors_origins, max_rows, max_body, host, port, workers, access_log, threads,
                         max_queue, header_timeout, body_timeout, idle_timeout, max_memory, runtime,
                         inline_budget=inline_ms / 1000)
    if dockerfile_path:
        from ..serve._docker import model_libraries, write_context

        target = Path(dockerfile_path)
        fmt = candidates_for_load(Path(file))[0]
        extras = [fmt.requires] if fmt.requires else []
        extras += ["onnx"] if runtime == "onnx" else []  # the image converts at start, as here
        from ..formats._object import ObjectFormat
        from ..info import describe

        metadata = describe(file).metadata  # a pickled model needs its own libraries in the image
        unpickled = isinstance(fmt, ObjectFormat) and metadata is not None
        libraries = model_libraries(metadata.versions) if unpickled and metadata is not None else []
        names = write_context(config, target, extras, overwrite=force, libraries=libraries)
        click.echo(f"wrote {target}/: {', '.join(names)}")
        click.echo(f"build and run it: docker build -t {Path(file).stem.lower()}-api {target} && "
                   f"docker run -p 8000:8000 {Path(file).stem.lower()}-api")
        return
    serve(config)
