"""Mutated real model pickles through load, in a child process: it may refuse, it may load,
it may not crash, hang, run anything or raise anything but a ModelpackError."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap

import joblib

from conftest import models
from safety.test_hostile import TIMEOUT, _cap_memory

MUTANTS_PER_FILE = 150

CHILD = textwrap.dedent("""
    import json, random, sys, warnings
    from pathlib import Path
    import modelpack
    warnings.simplefilter("ignore")
    seed_file, out, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    seed = seed_file.read_bytes()
    rng = random.Random(seed_file.name)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(n):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 8)):
            kind = rng.random()
            pos = rng.randrange(len(data))
            if kind < 0.6:
                data[pos] = rng.randrange(256)
            elif kind < 0.8:
                del data[pos:pos + rng.randint(1, 16)]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        path = out / f"m{i}{seed_file.suffix}"
        path.write_bytes(bytes(data))
        try:
            modelpack.load(path).metadata
            outcomes["loaded"] += 1
        except modelpack.ModelpackError:
            outcomes["refused"] += 1
        except Exception as exc:
            print(f"mutant {i}: {type(exc).__name__}: {exc}", file=sys.stderr)
            sys.exit(3)
    print(json.dumps(outcomes))
""")


def test_mutated_model_pickles_never_crash_or_escape(tmp_path):
    seeds = []
    for name in ("forest_strings", "pipeline_frame"):
        model = models()[name].model
        p = tmp_path / f"{name}.pkl"
        p.write_bytes(pickle.dumps(model, protocol=5))
        j = tmp_path / f"{name}.joblib"
        joblib.dump(model, j, compress=0)
        seeds += [p, j]
    for seed in seeds:
        out = tmp_path / seed.stem
        out.mkdir(exist_ok=True)
        result = subprocess.run([sys.executable, "-c", CHILD, str(seed), str(out), str(MUTANTS_PER_FILE)],
                                capture_output=True, text=True, timeout=TIMEOUT * 3, preexec_fn=_cap_memory)
        assert result.returncode == 0, f"{seed.name}: exit {result.returncode}: {result.stderr[-3000:]}"
        outcomes = json.loads(result.stdout.strip().splitlines()[-1])
        assert outcomes["refused"] > 0 and sum(outcomes.values()) == MUTANTS_PER_FILE
