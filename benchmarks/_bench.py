"""Small timing helpers shared by the benchmark scripts (no third-party harness needed)."""

from __future__ import annotations

import gc
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def compile_modelpack() -> None:
    """Compile modelpack's bytecode, as installing it does, before timing fresh processes: with
    PYTHONDONTWRITEBYTECODE set (as on the project's machines) an editable checkout would otherwise
    compile every edited module again at each start, and start-up figures would count it."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("modelpack")
    if spec is not None and spec.origin is not None:
        compileall.compile_dir(str(Path(spec.origin).parent), quiet=1)


def best_of(fn: Callable[[], Any], repeat: int = 15, number: int = 1) -> float:
    """Fastest seconds per call over ``repeat`` rounds of ``number`` calls (after one warm-up).

    The minimum, as timeit advises: what is above it is the machine's noise, not the code's
    cost. A full garbage collection before each round keeps one side from paying for the
    other's garbage (unpickling thousands of objects triggers collections).
    """
    fn()
    rounds = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        rounds.append((time.perf_counter() - start) / number)
    return min(rounds)


def fmt_seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |")


def save_results(name: str, data: Any) -> None:
    RESULTS.mkdir(exist_ok=True)
    payload = {"machine": platform.platform(), "python": platform.python_version(), "results": data}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str))


def paired(a: Callable[[], Any], b: Callable[[], Any], repeat: int = 25, number: int = 1) -> tuple[float, float]:
    """Fastest seconds per call of ``a`` and of ``b``, their rounds interleaved so that both
    see the same machine (frequency, other load) — for ratios of microsecond timings."""
    a()
    b()
    best_a = best_b = float("inf")
    for _ in range(repeat):
        for fn, which in ((a, "a"), (b, "b")):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            elapsed = (time.perf_counter() - start) / number
            if which == "a":
                best_a = min(best_a, elapsed)
            else:
                best_b = min(best_b, elapsed)
    return best_a, best_b


def fresh_load_seconds(path: Path, rounds: int = 3, env: dict[str, str] | None = None) -> float:
    """Fastest ``modelpack.load(path)`` in a new interpreter: what a user's first load costs, imports included."""
    import os
    import subprocess
    import sys

    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import modelpack; modelpack.load({str(path)!r})"], check=True,
                       capture_output=True, env={**os.environ, **(env or {})})
        best = min(best, time.perf_counter() - start)
    return best


def report_network_files(name: str, folder: Path, suffixes: tuple[str, ...], rows: list[list[Any]],
                         results: dict[str, Any], env: dict[str, str] | None = None) -> None:
    """The network benchmarks' closing tables (predict_proba rows, then each file's size and fresh-process
    load of ``folder/m<suffix>``), and their results saved under ``name``."""
    sizes = {suffix: (folder / f"m{suffix}").stat().st_size for suffix in suffixes}
    loads = {suffix: fresh_load_seconds(folder / f"m{suffix}", env=env) for suffix in suffixes}
    print_table("predict_proba, fastest of 25 interleaved rounds", ["file", "raw runtime", "modelpack", "÷ raw", ""],
                rows)
    print_table("file size and modelpack.load in a fresh process (imports included)", ["file", "size", "load"],
                [[k, f"{v / 1e3:.1f} kB", f"{loads[k]:.2f} s"] for k, v in sizes.items()])
    save_results(name, {"predict": results, "sizes": sizes, "load": loads})
