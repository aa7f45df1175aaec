"""Saving under kills and races: a model and its sidecar are published as a pair, once."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

import modelpack
from conftest import models

SAVER = textwrap.dedent("""
    import sys, pickle, modelpack
    from pathlib import Path
    a, b = (pickle.loads(Path(p).read_bytes()) for p in sys.argv[2:4])
    path = Path(sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:
        modelpack.save(a if i % 2 else b, path, overwrite=True)
        i += 1
""")


def test_a_save_killed_at_any_moment_leaves_a_loadable_matching_pair(tmp_path):
    import pickle

    a, b = models()["logistic"].model, models()["kmeans"].model
    (tmp_path / "a").write_bytes(pickle.dumps(a))
    (tmp_path / "b").write_bytes(pickle.dumps(b))
    path = tmp_path / "model.joblib"
    modelpack.save(a, path)
    rng = random.Random(0)
    kinds = set()
    for _ in range(12):
        proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path), str(tmp_path / "a"), str(tmp_path / "b")],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        loaded = modelpack.load(path)  # never a refusal, never a mix
        assert loaded.metadata.model_type == f"{type(loaded.native).__module__}.{type(loaded.native).__qualname__}"
        kinds.add(type(loaded.native).__name__)
    assert kinds == {"LogisticRegression", "KMeans"}, "the kills never landed between saves of both models"
    modelpack.save(a, path, overwrite=True)  # a live save cleans up what the dead ones left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "model.joblib", "model.joblib.modelpack.json"]


RACER = textwrap.dedent("""
    import pickle, sys, time
    from pathlib import Path
    import modelpack
    model = pickle.loads(Path(sys.argv[2]).read_bytes())
    go = Path(sys.argv[3])
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    try:
        modelpack.save(model, sys.argv[1])
        print("saved")
    except modelpack.FileExistsModelpackError:
        print("exists")
""")


@pytest.mark.parametrize("ext", [".joblib", ".onnx"])
def test_two_concurrent_saves_without_overwrite_exactly_one_wins(tmp_path, ext):
    import pickle

    names = ("logistic", "forest_strings")
    for name in names:
        (tmp_path / name).write_bytes(pickle.dumps(models()[name].model))
    for round_ in range(3):
        path, go = tmp_path / f"m{round_}{ext}", tmp_path / f"go{round_}"
        racers = [subprocess.Popen([sys.executable, "-c", RACER, str(path), str(tmp_path / name), str(go)],
                                   stdout=subprocess.PIPE, text=True) for name in names]
        for racer in racers:
            assert racer.stdout.readline().strip() == "ready"
        go.touch()  # both start saving at once
        results = [racer.communicate(timeout=120)[0].strip() for racer in racers]
        assert sorted(results) == ["exists", "saved"], results
        winner = names[results.index("saved")]
        assert modelpack.load(path).metadata.model_type.endswith(type(models()[winner].model).__name__)


def test_saved_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        modelpack.save(models()["logistic"].model, tmp_path / "m.pkl")
    finally:
        os.umask(old)
    for name in ("m.pkl", "m.pkl.modelpack.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
