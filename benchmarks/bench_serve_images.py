"""An image classifier served by `modelpack serve` beside the Flask + Keras app the tutorials write.

    python benchmarks/bench_serve_images.py [--seconds 30] [--workers 2]

The model is examples/image-classifier's CNN (16×16 RGB, 3 classes). Both servers get the same
PNG as the raw body of ``POST /predict`` (``Content-Type: image/png``), with the same number of
worker processes, loaded by wrk (Debian's package) on 127.0.0.1:

* the tutorial app: Flask under gunicorn, the Keras model loaded once per worker, and per
  request Pillow → numpy → ``model.predict(x)`` → the class name;
* modelpack: ``modelpack serve cnn.onnx --workers N`` (and the same for ``cnn.keras``), whose
  ``/predict/image`` prepares the pixels by the recipe recorded in the file.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _bench import print_table, save_results  # noqa: E402
from bench_serve import free_port, rss_mib  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FLASK_APP = '''
import io, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np, keras
from PIL import Image
from flask import Flask, request, jsonify
app = Flask(__name__)
model = keras.saving.load_model({path!r})
CLASSES = ["red", "green", "blue"]

@app.post("/predict")
def predict():
    image = Image.open(io.BytesIO(request.get_data())).convert("RGB")
    x = np.asarray(image, dtype="float32")[None] / 255.0
    return jsonify(prediction=CLASSES[int(model.predict(x, verbose=0).argmax())])
'''


def wait_up(url: str, image: bytes) -> None:
    for _ in range(600):
        try:
            if httpx.post(url, content=image, headers={"Content-Type": "image/png"}, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def wrk(url: str, image_path: Path, seconds: int, folder: Path) -> dict:
    import re

    lua = folder / "image.lua"
    lua.write_text(textwrap.dedent(f"""
        local f = io.open({str(image_path)!r}, "rb")
        wrk.body = f:read("*all")
        f:close()
        wrk.method = "POST"
        wrk.headers["Content-Type"] = "image/png"
    """))
    out = subprocess.run(["wrk", "-t1", "-c8", f"-d{seconds}s", "--latency", "-s", str(lua), url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)],
            "non_2xx": int(errors.group(1)) if errors else 0}


def run(command: list[str], url: str, image: Path, seconds: int, folder: Path) -> dict:
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_up(url, image.read_bytes())
        result = wrk(url, image, seconds, folder)
        result["rss_mib"] = rss_mib(server.pid)
        return result
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import example_module

    bindir = Path(sys.executable).parent
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = example_module("image-classifier").main(folder)
        image = sorted((folder / "new").iterdir())[0]
        (folder / "tutorial.py").write_text(FLASK_APP.format(path=str(paths["keras"])))
        port = free_port()
        results["Flask + Keras (gunicorn)"] = run(
            [str(bindir / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{port}", "--chdir", str(folder),
             "tutorial:app"], f"http://127.0.0.1:{port}/predict", image, args.seconds, folder)
        for fmt in ("onnx", "keras"):
            port = free_port()
            results[f"modelpack serve cnn.{fmt}"] = run(
                [str(bindir / "modelpack"), "serve", str(paths[fmt]), "--port", str(port), "--workers",
                 str(args.workers)], f"http://127.0.0.1:{port}/predict/image", image, args.seconds, folder)
    base = results["Flask + Keras (gunicorn)"]["rps"]
    print_table(f"one 16×16 PNG per POST, {args.workers} workers each, wrk -t1 -c8 for {args.seconds} s on 127.0.0.1",
                ["server", "requests/s", "÷ Flask + Keras", "p99 latency", "non-2xx", "RSS (all workers)"],
                [[name, f"{r['rps']:,.0f}", f"{r['rps'] / base:.1f}×", f"{r['p99_ms']:.1f} ms", r["non_2xx"],
                  f"{r['rss_mib']:,.0f} MiB"] for name, r in results.items()])
    save_results("serve_images", results)


if __name__ == "__main__":
    main()
