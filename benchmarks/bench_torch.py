"""A PyTorch network and its ONNX export: predict on 1 row and on 256, load time, file size.

    python benchmarks/bench_torch.py

The same shape as bench_keras.py: 20 features, two hidden layers of 64, 3 classes (logits),
saved by modelpack as a torch.export program (.pt2) and converted to ONNX (check passed). For
each file: the raw runtime (the program ``torch.export.load`` returns, called under
``torch.no_grad()``; an onnxruntime session) beside modelpack's ``predict_proba`` on the same file, rounds interleaved; load
time in fresh processes (importing torch included).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _bench import fmt_seconds, paired, report_network_files  # noqa: E402

import modelpack  # noqa: E402


def network() -> torch.nn.Module:
    torch.manual_seed(0)
    X = torch.randn(2000, 20)
    y = ((X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long())
    net = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 3))
    optimizer = torch.optim.Adam(net.parameters(), 0.01)
    for _ in range(50):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(X), y).backward()
        optimizer.step()
    return net.eval()


def main() -> None:
    net = network()
    X = np.random.default_rng(1).normal(size=(256, 20)).astype("float32")
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        modelpack.save(net, folder / "m.pt2", sample=X[:50], classes=["low", "mid", "high"])
        assert modelpack.convert(folder / "m.pt2", folder / "m.onnx", data=X).passed
        session = ort.InferenceSession(str(folder / "m.onnx"))
        name = session.get_inputs()[0].name
        program, exported = modelpack.load(folder / "m.pt2"), modelpack.load(folder / "m.onnx")
        loaded = torch.export.load(str(folder / "m.pt2")).module()  # the file's own runtime
        for batch in (1, 256):
            data = X[:batch]

            def raw_torch(data=data, module=loaded):
                with torch.no_grad():
                    return torch.softmax(module(torch.from_numpy(data)), 1).numpy()

            raw, ours = paired(raw_torch, lambda data=data: program.predict_proba(data))
            eager = paired(lambda data=data: raw_torch(data, net), lambda: None)[0]
            rows.append([f".pt2 ({batch} rows)", fmt_seconds(raw), fmt_seconds(ours), f"{ours / raw:.2f}×",
                         f"the eager module: {fmt_seconds(eager)}"])
            results[f"torch-{batch}"] = {"raw": raw, "modelpack": ours, "eager": eager}
            raw_onnx, ours_onnx = paired(lambda data=data: session.run(None, {name: data})[1],
                                         lambda data=data: exported.predict_proba(data))
            rows.append([f".onnx ({batch} rows)", fmt_seconds(raw_onnx), fmt_seconds(ours_onnx),
                         f"{ours_onnx / raw_onnx:.2f}×", f"÷ the module: {raw_onnx / raw:.2f}×"])
            results[f"onnx-{batch}"] = {"raw": raw_onnx, "modelpack": ours_onnx}
        report_network_files("torch", folder, (".pt2", ".onnx"), rows, results)


if __name__ == "__main__":
    main()
