"""Every hostile file, through the real CLI in its own process: no payload runs, no signal kills
it, nothing hangs or exhausts memory, and the answer is one line."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from safety.hostile import ATTACKS

MEMORY_CAP = 4 << 30  # address space: far below what the bombs ask for
TIMEOUT = 120


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "modelpack", *args], capture_output=True, text=True,
                          timeout=TIMEOUT, preexec_fn=_cap_memory, env=env)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("hostile")
    marker = folder / "PWNED"
    return {attack.__name__: (attack(folder, marker), marker) for attack in ATTACKS}


COMMANDS = {
    "verify": lambda path: ["verify", str(path)],
    "predict": lambda path: ["predict", str(path), "--data", str(path.parent / "rows.csv"), "-o",
                             str(path.parent / f"{path.name}.out.csv")],
    "convert": lambda path: ["convert", str(path), "-o", str(path.parent / f"{path.name}.onnx")],
    "serve": lambda path: ["serve", str(path), "--port", "0"],  # must fail while loading, before listening
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", [a.__name__ for a in ATTACKS])
def test_loading_refuses_in_one_line_and_nothing_runs(corpus, name, command):
    path, marker = corpus[name]
    (path.parent / "rows.csv").write_text("x1,x2,x3,x4\n1,2,3,4\n")
    result = run_cli(*COMMANDS[command](path))
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])  # not a signal (< 0), not a pass
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert not marker.exists(), "the payload ran"
    assert not any(p.name.endswith((".out.csv", ".onnx")) for p in path.parent.iterdir()), "something was written"


@pytest.mark.parametrize("name", [a.__name__ for a in ATTACKS])
def test_info_reads_it_without_running_anything(corpus, name):
    path, marker = corpus[name]
    result = run_cli("info", str(path), "--json")
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert not marker.exists(), "info ran the payload"
    if result.returncode == 0 and path.suffix != ".skops":
        info = json.loads(result.stdout)
        # State is checked by load, not by the audit; a huge memo index costs this machine nothing.
        expected_flag = name not in {"tree_child_out_of_range", "tree_cycle", "tree_feature_out_of_range",
                                     "tree_depth_understated", "tree_child_in_the_next_tree", "tree_short_n_classes",
                                     "hist_gradient_boosting_child_in_the_next_tree", "dtype_hidden_object", "memo_index_bomb",
                                     "class_swap_through_slot_state", "svm_support_counts_overflow",
                                     "kmeans_short_centers", "gradient_boosting_wider_than_its_start",
                                     "gradient_boosting_more_trees_per_stage", "bisecting_kmeans_short_centers",
                                     "spline_short_coefficients", "sparse_indices_out_of_range",
                                     "kmeans_negative_threads", "agglomeration_huge_label", "svr_one_support_count"}
        if expected_flag:
            assert info["untrusted_globals"] or not info["fully_read"], info


@pytest.mark.parametrize("compression", ["3", "gzip", "bz2", "lzma", "xz", "zlib"])
def test_info_imports_no_model_library(corpus, compression):
    """Not even joblib: its compressors are read by the standard library's readers."""
    matches = [key for key in corpus if key.startswith("os_system_in_joblib") and key.endswith(compression)]
    assert matches, sorted(corpus)[:20]
    path, _ = corpus[matches[0]]
    code = ("import sys, modelpack; modelpack.describe(sys.argv[1]); "
            "print([m for m in ('sklearn', 'xgboost', 'lightgbm', 'onnxruntime', 'joblib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_info_names_the_hidden_payload(corpus):
    path, _ = corpus["os_system_in_joblib_gzip"]
    info = json.loads(run_cli("info", str(path), "--json").stdout)
    assert "posix.system" in info["untrusted_globals"] and info["model_type"] == "sklearn.pipeline.Pipeline"
    assert info["recorded_versions"]["sklearn"]


def test_a_raised_limit_is_honoured(corpus):
    """The bound is an option: with more memory allowed, the zlib bomb reads past the default."""
    import modelpack

    path, _ = corpus["joblib_zlib_bomb"]
    with pytest.raises(modelpack.ResourceLimitError, match="max_memory"):
        modelpack.load(path)
    with pytest.raises(modelpack.ModelpackError) as err:
        modelpack.load(path, max_memory="64KiB")
    assert "64 KiB" in str(err.value)
