"""`serve model.joblib --runtime onnx` beside serving the joblib file itself and the ONNX file.

    python benchmarks/bench_serve_runtime.py [--seconds 20] [--workers 2]

The model of bench_serve.py (a ColumnTransformer + 100-tree forest over a mixed DataFrame) saved
as joblib with 100 sample rows, and as ONNX; single-row JSON requests from wrk (-t1 -c8) on
127.0.0.1, one server at a time, same worker count. Also the start-up time of each server (until
/health answers), where the conversion and its check are paid.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _bench import print_table, save_results  # noqa: E402
from bench_serve import free_port, served_model, wait_up, wrk  # noqa: E402

import modelpack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    X, model, body = served_model()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        modelpack.save(model, folder / "model.joblib", sample=X.head(100))
        modelpack.save(model, folder / "model.onnx", sample=X.head(100))
        servers = {"serve model.joblib": ["model.joblib"],
                   "serve model.joblib --runtime onnx": ["model.joblib", "--runtime", "onnx"],
                   "serve model.onnx": ["model.onnx"]}
        results = {}
        for name, args_ in servers.items():
            port = free_port()
            start = time.perf_counter()
            server = subprocess.Popen([str(Path(sys.executable).parent / "modelpack"), "serve", str(folder / args_[0]),
                                       *args_[1:], "--port", str(port), "--workers", str(args.workers)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_up(f"http://127.0.0.1:{port}/predict", body)
                up = time.perf_counter() - start
                wrk(f"http://127.0.0.1:{port}/predict", body, 3, folder)  # warm-up: every worker loaded and called
                result = wrk(f"http://127.0.0.1:{port}/predict", body, args.seconds, folder)
                result.pop("raw", None)
                results[name] = {**result, "startup_s": up}
            finally:
                server.terminate()
                server.wait()
    base = results["serve model.joblib"]["rps"]
    for name, r in results.items():
        rows.append([name, f"{r['rps']:,.0f}", f"{r['rps'] / base:.1f}×", f"{r['p99_ms']:.2f} ms", r["non_2xx"],
                     f"{r['startup_s']:.1f} s"])
    print_table(f"single-row JSON POST /predict, {args.workers} workers, wrk -t1 -c8, {args.seconds} s each",
                ["server", "requests/s", "vs joblib", "p99", "non-2xx", "start-up"], rows)
    save_results("serve_runtime", results)


if __name__ == "__main__":
    main()
