"""Start-up cost: `python -c "import modelpack"` beside `python -c "import numpy"`.

    python benchmarks/bench_import.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _bench import fmt_seconds, print_table, save_results  # noqa: E402

HEAVY = ("sklearn", "skl2onnx", "onnxruntime", "sklearn2pmml", "jpype", "pandas", "scipy", "skops", "joblib")


def cold(code: str, runs: int = 15) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    baseline = cold("pass")
    numpy = cold("import numpy")
    modelpack = cold("import modelpack")
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, modelpack; print([m for m in {HEAVY!r} if m in sys.modules])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    rows = [
        ["python -c pass", fmt_seconds(baseline), "-"],
        ["import numpy", fmt_seconds(numpy), "1.00×"],
        ["import modelpack", fmt_seconds(modelpack), f"{(modelpack - baseline) / (numpy - baseline):.2f}× (above bare python)"],
    ]
    print_table("cold start, median of 15 processes", ["command", "time", "vs numpy"], rows)
    print(f"heavy modules imported by `import modelpack`: {loaded}")
    save_results("import", {"python": baseline, "numpy": numpy, "modelpack": modelpack, "heavy_imported": loaded})


if __name__ == "__main__":
    main()
