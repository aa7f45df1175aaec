"""`modelpack serve model.onnx` beside the smallest Starlette + onnxruntime app one would write by hand,
and `/health` while each server is saturated.

    python benchmarks/bench_serve_ceiling.py [--seconds 10] [--rounds 3] [--workers 2] [--base REV]

Both run under the same uvicorn (uvloop, httptools), with the same number of worker processes, on the
model of bench_serve.py (a ColumnTransformer + 100-tree forest exported to ONNX). The hand-written app
reads the JSON body, builds one array per input and calls ``session.run`` on the event loop; it validates
nothing. Rounds alternate between the two servers (both stay up), so both see the same machine.
With ``--base REV``, ``modelpack serve`` of that revision (checked out with ``git worktree``) runs
as a third server in the same rounds: the A/B of a change, which this VM's drift between runs
(the hand-written app's figure moves by up to 30%) would otherwise hide.

Then, for each server, ``/health`` is timed by a second wrk (one connection) while a first wrk keeps
/predict saturated with 32 connections: the p99 of /health is what a load balancer's probe sees.

    python benchmarks/bench_serve_ceiling.py --in-process 8000

drives both ASGI apps in this process instead (no sockets, no uvicorn, uvloop), the same request to
each in turn, and reports the median time of a request in each: the apps' own cost, which the
sockets, HTTP parsing and wrk sharing the two cores dilute in the figures above.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
from _bench import print_table, save_results  # noqa: E402
from bench_serve import free_port, post_script, served_model, wait_up, wrk, wrk_report  # noqa: E402

import modelpack  # noqa: E402

HAND_WRITTEN = '''
import numpy as np
import onnxruntime as ort
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession({path!r}, options, providers=["CPUExecutionProvider"])
DTYPES = {{"tensor(int64)": np.int64, "tensor(float)": np.float32, "tensor(double)": np.float64,
          "tensor(string)": object}}
inputs = [(i.name, DTYPES[i.type]) for i in session.get_inputs()]
label = session.get_outputs()[0].name


async def predict(request):
    row = await request.json()
    feed = {{name: np.array([[row[name]]], dtype=dtype) for name, dtype in inputs}}
    return JSONResponse({{"predictions": session.run([label], feed)[0].tolist()}})


async def health(request):
    return JSONResponse({{"status": "ok"}})


app = Starlette(routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health)])
'''


def saturated(url: str, body: dict, seconds: int, folder: Path) -> tuple[dict, dict]:
    """/health timed by one connection while 32 connections keep /predict busy."""
    load = subprocess.Popen(["wrk", "-t1", "-c32", f"-d{seconds + 2}s", "--latency", "-s", str(post_script(body, folder)),
                             f"{url}/predict"], stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    health = wrk_report(subprocess.run(["wrk", "-t1", "-c1", f"-d{seconds}s", "--latency", f"{url}/health"],
                                       capture_output=True, text=True, check=True).stdout)
    predict = wrk_report(load.communicate()[0])
    for report in (health, predict):
        report.pop("raw")
    return health, predict


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--base", help="also serve with this revision of modelpack, in the same rounds")
    parser.add_argument("--in-process", type=int, metavar="N", help="drive both apps in process, N requests each")
    args = parser.parse_args()
    X, model, body = served_model()
    if args.in_process:
        in_process(X, model, body, args.in_process)
        return
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.base:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder / "base"), args.base],
                           check=True, capture_output=True)
        try:
            results = _run(args, folder, X, model, body, bin_dir)
        finally:
            if args.base:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder / "base")], check=True)
    ceiling = max(r["rps"] for r in results["hand-written Starlette + onnxruntime"]["rounds"])
    ceiling_median = statistics.median(r["rps"] for r in results["hand-written Starlette + onnxruntime"]["rounds"])
    rows = []
    for name, r in results.items():
        best = max(x["rps"] for x in r["rounds"])
        median = statistics.median(x["rps"] for x in r["rounds"])
        p99 = min(x["p99_ms"] for x in r["rounds"])
        h = r["health_under_load"]
        rows.append([name, f"{best:,.0f}", f"{best / ceiling:.2f}×", f"{median:,.0f}", f"{median / ceiling_median:.2f}×", f"{p99:.2f} ms",
                     f"{h['p50_ms']:.2f} ms", f"{h['p99_ms']:.2f} ms", f"{r['predict_under_load']['rps']:,.0f}",
                     r["predict_under_load"]["non_2xx"]])
    print_table(f"single-row JSON POST /predict, {args.workers} workers, wrk -t1 -c8, best of {args.rounds} "
                f"interleaved {args.seconds}-s rounds; then /health (1 connection) while 32 connections POST /predict",
                ["server", "requests/s", "÷ hand-written", "median", "median ÷ hand-written's", "p99", "/health p50 loaded", "/health p99 loaded",
                 "/predict req/s loaded", "non-2xx loaded"], rows)
    save_results("serve_ceiling", results)


def in_process(X: object, model: object, body: dict, n: int) -> None:
    """Median µs of a POST /predict in each app, driven through ASGI in this process, interleaved."""
    import json

    import uvloop

    from modelpack.serve import ServeConfig, create_app

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        modelpack.save(model, path, sample=X.head(100))
        namespace: dict = {}
        exec(HAND_WRITTEN.format(path=str(path)), namespace)
        apps = {"hand-written Starlette + onnxruntime": namespace["app"],
                "modelpack serve model.onnx": create_app(modelpack.load(path), ServeConfig(path=str(path)))}
        raw = json.dumps(body).encode()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
                 "path": "/predict", "raw_path": b"/predict", "query_string": b"", "root_path": "",
                 "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                             (b"content-length", str(len(raw)).encode())],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}

        async def receive() -> dict:
            return {"type": "http.request", "body": raw, "more_body": False}

        async def request(app: object) -> tuple[float, bytes]:
            sent: list[dict] = []

            async def send(message: dict) -> None:
                sent.append(message)

            start = time.perf_counter()
            await app(dict(scope), receive, send)  # type: ignore[operator]
            seconds = time.perf_counter() - start
            assert sent[0]["status"] == 200, sent
            return seconds, sent[1]["body"]

        async def main() -> dict[str, list[float]]:
            answers = {name: (await request(app))[1] for name, app in apps.items()}
            assert len(set(answers.values())) == 1, answers  # the same answer from both
            for _ in range(500):  # warm-up: the inline path, caches
                for app in apps.values():
                    await request(app)
            times: dict[str, list[float]] = {name: [] for name in apps}
            for _ in range(n):
                for name, app in apps.items():
                    times[name].append((await request(app))[0])
            return times

        times = uvloop.run(main())
    medians = {name: statistics.median(t) * 1e6 for name, t in times.items()}
    hand = medians["hand-written Starlette + onnxruntime"]
    print_table(f"one POST /predict driven through ASGI in process, median of {n} interleaved requests",
                ["app", "µs", "hand-written's ÷ this"], [[name, f"{m:.1f}", f"{hand / m:.2f}×"] for name, m in medians.items()])
    save_results("serve_in_process", {"medians_us": medians, "requests": n})


def _run(args: argparse.Namespace, folder: Path, X: object, model: object, body: dict, bin_dir: Path) -> dict[str, dict]:
    """Start the servers, run the interleaved rounds and the saturated /health, stop the servers."""
    modelpack.save(model, folder / "model.onnx", sample=X.head(100))
    (folder / "handwritten.py").write_text(HAND_WRITTEN.format(path=str(folder / "model.onnx")))
    ports = {"hand-written Starlette + onnxruntime": free_port(), "modelpack serve model.onnx": free_port()}
    environments: dict[str, dict[str, str]] = {}
    if args.base:
        ports[f"modelpack serve model.onnx, base {args.base}"] = free_port()
        environments[f"modelpack serve model.onnx, base {args.base}"] = {**os.environ, "PYTHONPATH": str(folder / "base")}
    commands = {
        "hand-written Starlette + onnxruntime": [str(bin_dir / "uvicorn"), "handwritten:app", "--app-dir", str(folder),
                                                 "--workers", str(args.workers), "--no-access-log", "--log-level",
                                                 "warning", "--port"],
        "modelpack serve model.onnx": [str(bin_dir / "modelpack"), "serve", str(folder / "model.onnx"),
                                       "--workers", str(args.workers), "--port"],
    }
    for name in environments:
        commands[name] = commands["modelpack serve model.onnx"]
    servers = {name: subprocess.Popen([*cmd, str(ports[name])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      env=environments.get(name))
               for name, cmd in commands.items()}
    results: dict[str, dict] = {name: {"rounds": []} for name in servers}
    try:
        for name in servers:
            url = f"http://127.0.0.1:{ports[name]}"
            wait_up(f"{url}/predict", body)
            wrk(f"{url}/predict", body, 3, folder)  # warm-up: every worker loaded and called
        for _ in range(args.rounds):
            for name in servers:
                r = wrk(f"http://127.0.0.1:{ports[name]}/predict", body, args.seconds, folder)
                r.pop("raw")
                results[name]["rounds"].append(r)
        for name in servers:
            health, predict = saturated(f"http://127.0.0.1:{ports[name]}", body, args.seconds, folder)
            results[name] |= {"health_under_load": health, "predict_under_load": predict}
    finally:
        for server in servers.values():
            server.terminate()
            server.wait()
    return results


if __name__ == "__main__":
    main()
