"""`modelpack serve` beside a tutorial-style Flask app, under load from wrk on loopback.

    python benchmarks/bench_serve.py [--seconds 60] [--workers 2]

Both serve the same model (a ColumnTransformer + 100-tree forest over a mixed DataFrame) to
single-row JSON requests, with the same number of worker processes:

* the tutorial app: Flask under gunicorn, the model unpickled once, and per request
  ``pd.DataFrame([request.json])`` then ``model.predict`` — what the tutorials write;
* modelpack: ``modelpack serve model.onnx --workers N``.

wrk (Debian's package) sends the load from this machine to 127.0.0.1 only, for a bounded
time. Memory is the servers' summed RSS sampled during modelpack's run.
"""

from __future__ import annotations

import argparse
import json
import pickle
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

sys.path.insert(0, str(Path(__file__).parent))
from _bench import print_table, save_results  # noqa: E402

import modelpack  # noqa: E402

FLASK_APP = '''
import pickle, pandas as pd
from flask import Flask, request, jsonify
app = Flask(__name__)
model = pickle.load(open({path!r}, "rb"))

@app.post("/predict")
def predict():
    df = pd.DataFrame([request.get_json()])
    return jsonify(prediction=model.predict(df).tolist())
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, body: dict) -> None:
    for _ in range(300):
        try:
            if httpx.post(url, json=body, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def rss_mib(pid: int) -> float:
    """Summed RSS of a process and its children (uvicorn/gunicorn workers)."""
    out = subprocess.run(["ps", "-o", "rss=", "--ppid", str(pid), "-p", str(pid)], capture_output=True, text=True).stdout
    return sum(int(x) for x in out.split()) / 1024


def post_script(body: dict, script_dir: Path) -> Path:
    """A wrk Lua script that POSTs ``body`` as JSON."""
    lua = script_dir / "post.lua"
    lua.write_text(textwrap.dedent(f"""
        wrk.method = "POST"
        wrk.body = {json.dumps(json.dumps(body))}
        wrk.headers["Content-Type"] = "application/json"
    """))
    return lua


def wrk_report(out: str) -> dict:
    """Requests/s, p50 and p99 latency (ms), non-2xx answers and socket errors from ``wrk --latency``'s output."""
    found: dict = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        found[f"p{pct}_ms"] = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return found | {"non_2xx": int(errors.group(1)) if errors else 0,
                    "socket_errors": socket_errors.group(1) if socket_errors else "none", "raw": out}


def wrk(url: str, body: dict, seconds: int, script_dir: Path) -> dict:
    out = subprocess.run(["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", "-s", str(post_script(body, script_dir)), url],
                         capture_output=True, text=True, check=True).stdout
    return wrk_report(out)


def served_model() -> tuple[pd.DataFrame, object, dict]:
    """The rows, the model (a ColumnTransformer + 100-tree forest) and the one-row request body."""
    rng = np.random.default_rng(0)
    n = 5000
    X = pd.DataFrame({"age": rng.integers(18, 80, n), "income": rng.normal(5e4, 1.5e4, n).round(2),
                      "city": rng.choice(["Paris", "Lagos", "Zurich"], n), "plan": rng.choice(["basic", "pro"], n)})
    y = np.where((X["age"] > 45) ^ (X["plan"] == "pro"), "yes", "no")
    model = make_pipeline(ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"])],
                                            remainder="passthrough"),
                          RandomForestClassifier(100, max_depth=10, random_state=0, n_jobs=1)).fit(X, y)
    return X, model, {"age": 42, "income": 51234.5, "city": "Paris", "plan": "pro"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    X, model, body = served_model()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "model.pkl").write_bytes(pickle.dumps(model))
        modelpack.save(model, tmpdir / "model.onnx", sample=X.head(100))
        (tmpdir / "tutorial.py").write_text(FLASK_APP.format(path=str(tmpdir / "model.pkl")))

        port = free_port()
        flask = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
                                  "--chdir", str(tmpdir), "tutorial:app"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(f"http://127.0.0.1:{port}/predict", body)
            results["flask_tutorial"] = wrk(f"http://127.0.0.1:{port}/predict", body, min(args.seconds, 20), tmpdir)
        finally:
            flask.terminate()
            flask.wait()

        port = free_port()
        server = subprocess.Popen([str(Path(sys.executable).parent / "modelpack"), "serve", str(tmpdir / "model.onnx"),
                                   "--port", str(port), "--workers", str(args.workers)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(f"http://127.0.0.1:{port}/predict", body)
            samples: list[float] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(5):
                    samples.append(rss_mib(server.pid))

            sampler = threading.Thread(target=sample)
            samples.append(rss_mib(server.pid))
            sampler.start()
            results["modelpack_serve"] = wrk(f"http://127.0.0.1:{port}/predict", body, args.seconds, tmpdir)
            stop.set()
            sampler.join()
            samples.append(rss_mib(server.pid))
            results["modelpack_serve"]["rss_mib_samples"] = samples
        finally:
            server.terminate()
            server.wait()
    f, m = results["flask_tutorial"], results["modelpack_serve"]
    print_table(
        f"single-row JSON POST /predict, {args.workers} workers each, wrk -t1 -c8 on 127.0.0.1",
        ["server", "requests/s", "p99 latency", "non-2xx", "socket errors"],
        [["Flask tutorial (gunicorn, pickle)", f"{f['rps']:,.0f}", f"{f['p99_ms']:.2f} ms", f["non_2xx"], f["socket_errors"]],
         ["modelpack serve (uvicorn, onnx)", f"{m['rps']:,.0f}", f"{m['p99_ms']:.2f} ms", m["non_2xx"], m["socket_errors"]]],
    )
    print(f"\nthroughput ratio: {m['rps'] / f['rps']:.1f}×; p99 ratio: {m['p99_ms'] / f['p99_ms']:.2f}×")
    s = m["rss_mib_samples"]
    print(f"modelpack serve RSS over {args.seconds} s: start {s[0]:.0f} MiB, max {max(s):.0f} MiB, end {s[-1]:.0f} MiB")
    for r in results.values():
        r.pop("raw")
    save_results("serve", results)


if __name__ == "__main__":
    main()
