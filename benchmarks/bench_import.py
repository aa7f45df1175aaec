"""Start-up cost: `import modelpack` and `modelpack --help` beside `import numpy`, in fresh processes.

    python benchmarks/bench_import.py

Four commands run round by round, interleaved (so every ratio compares runs under the same
machine load): ``python -c pass``, ``python -c "import numpy"``, ``python -c "import modelpack"``
and the installed ``modelpack --help`` console script. Medians of 15 rounds. The script also
reports which heavy modules ``import modelpack`` loads.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _bench import compile_modelpack, fmt_seconds, print_table, save_results  # noqa: E402

HEAVY = ("numpy", "sklearn", "skl2onnx", "onnxruntime", "sklearn2pmml", "jpype", "pandas", "scipy", "skops", "joblib")
SCRIPT = Path(sys.executable).parent / "modelpack"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import numpy": [sys.executable, "-c", "import numpy"],
    "import modelpack": [sys.executable, "-c", "import modelpack"],
    "modelpack --help": [str(SCRIPT), "--help"],
}


def main(rounds: int = 15) -> None:
    compile_modelpack()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(rounds):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, modelpack; print([m for m in {HEAVY!r} if m in sys.modules])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    bare, numpy = median["python -c pass"], median["import numpy"]
    rows = [[name, fmt_seconds(t), "-" if name == "python -c pass" else f"{(t - bare) / (numpy - bare):.2f}×"]
            for name, t in median.items()]
    print_table(f"cold start, median of {rounds} interleaved rounds", ["command", "time", "above bare python ÷ numpy's"],
                rows)
    print(f"heavy modules imported by `import modelpack`: {loaded}")
    save_results("import", {"median": median, "heavy_imported": loaded})


if __name__ == "__main__":
    main()
