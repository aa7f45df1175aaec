"""What a new user waits for and downloads: the wheel, the README's first command, the docs build.

    python benchmarks/bench_packaging.py              # wheel size and docs build
    python benchmarks/bench_packaging.py --fresh-venv # also the README's first command in a new venv

- Wheel: built with ``pip wheel --no-deps`` from this tree, beside the newest wheels of the nearest
  peers on the index (skops, mlflow-skinny), fetched with ``pip download --no-deps``.
- Docs: ``mkdocs build --strict`` of this site, three rounds, beside the same build of the docs alone
  (no mkdocstrings API page, no mkdocs-click page): what the generated references cost.
- Fresh venv: ``python -m venv`` then the README's first command as written (``pip install ".[all]"``,
  train, convert with the check, info), timed whole, with pip's cache as this machine has it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _bench import print_table, save_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PEERS = ["skops", "mlflow-skinny"]


def wheel_sizes(folder: Path) -> list[list[object]]:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder / "own"), str(ROOT)],
                   check=True, capture_output=True)
    (own,) = (folder / "own").glob("*.whl")
    rows = [["modelpack-ml (this tree)", own.name, own.stat().st_size / 1024]]
    for peer in PEERS:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:", "-d",
                        str(folder / peer), peer], check=True, capture_output=True)
        (wheel,) = (folder / peer).glob("*.whl")
        rows.append([peer, wheel.name, wheel.stat().st_size / 1024])
    return [[name, file, f"{kib:,.0f} KiB", f"{kib / rows[0][2]:.1f}×"] for name, file, kib in rows]


def docs_build(folder: Path, rounds: int) -> list[list[object]]:
    plain = folder / "plain"
    shutil.copytree(ROOT / "docs", plain / "docs")
    config = (ROOT / "mkdocs.yml").read_text()
    config = re.sub(r"      - Command line: cli.md\n|      - Python API: api.md\n", "", config)
    config = config.replace("  - mkdocstrings:", "  - mkdocstrings-off:").replace("  - mkdocs-click\n", "")
    config = re.sub(r"  - mkdocstrings-off:.*?(?=^markdown_extensions)", "", config, flags=re.S | re.M)
    config = config.replace("  - Reference:\n", "")
    (plain / "docs" / "api.md").unlink()
    (plain / "docs" / "cli.md").unlink()
    (plain / "mkdocs.yml").write_text(config.replace("strict: true", "strict: false"))
    env = {"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    times: dict[str, list[float]] = {"site (with API and CLI reference)": [], "the guide alone": []}
    for _ in range(rounds):  # interleaved
        for name, config_path in (("site (with API and CLI reference)", ROOT / "mkdocs.yml"),
                                  ("the guide alone", plain / "mkdocs.yml")):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(config_path), "-d",
                            str(folder / "site")], check=True, capture_output=True, env=env)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["the guide alone"])
    return [[name, f"{statistics.median(t):.2f} s", f"{statistics.median(t) / base:.2f}×"] for name, t in times.items()]


def fresh_venv(folder: Path) -> list[list[object]]:
    readme = (ROOT / "README.md").read_text()
    first = next(line for line in readme.splitlines() if line.startswith("pip install"))
    work = folder / "work"
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".git", "site", "build", "*.egg-info", "__pycache__"))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    venv_made = time.perf_counter() - start
    env = {"PATH": f"{folder / 'venv' / 'bin'}:/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run(["bash", "-c", first], cwd=work, env=env, capture_output=True, text=True)
    total = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    again = time.perf_counter()
    rerun = re.sub(r"^pip install [^&]+&& ", "", first)
    subprocess.run(["bash", "-c", rerun], cwd=work, env=env, check=True, capture_output=True)
    second = time.perf_counter() - again
    return [["venv", f"{venv_made:.1f} s"], ["README first command, whole (install + train + convert + info)",
            f"{total:.1f} s"], ["the same without the install, run again", f"{second:.1f} s"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fresh-venv", action="store_true")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results["wheel"] = wheel_sizes(folder)
        print_table("wheel size", ["distribution", "file", "size", "vs modelpack-ml"], results["wheel"])
        results["docs"] = docs_build(folder, args.rounds)
        print_table(f"mkdocs build, median of {args.rounds} interleaved rounds", ["build", "time", "ratio"],
                    results["docs"])
        if args.fresh_venv:
            results["fresh"] = fresh_venv(folder)
            print_table("a new user's first command", ["step", "time"], results["fresh"])
    save_results("packaging", results)


if __name__ == "__main__":
    main()
