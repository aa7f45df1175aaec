"""PyTorch: programs from ``torch.export`` in ``.pt2`` files, the metadata in an extra member.

A ``torch.export`` program is a graph of ATen operators with its weights: loading it runs no
Python from the file. A ``torch.save`` pickle (a ``state_dict`` or a whole module) is not a
model without the Python code that defines its architecture, and TorchScript runs its own
code: both are refused unless trusted, with the way to save a program instead.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from ...errors import (
    CorruptFileError,
    ModelpackError,
    UnsupportedModelError,
    UntrustedContentError,
    a_or_an,
    first_line,
)
from ...metadata import Metadata
from ...registry import Format
from ...safety import TRUST_HINT

MEMBER = "modelpack.json"
_TORCH_MEMBER = re.compile(r"^[^/]+/(data\.pkl|data/\d+|data/weights/|models/|code/|constants\.pkl|archive_format|"
                           r"byteorder|\.data/|version)")


class TorchFormat(Format):
    name = "torch"
    extensions = (".pt2", ".pt", ".pth")
    requires = "torch"
    dependencies = ("torch",)
    writes = frozenset({"networks"})
    sniff_priority = 24  # before skops, which takes any zip

    def sniff(self, head: bytes) -> bool:
        # torch writes zips whose members sit in one top folder: <name>/data.pkl, <name>/data/0,
        # <name>/data/weights/..., <name>/models/model.json, <name>/code/...
        if not head.startswith(b"PK\x03\x04") or len(head) < 30:
            return False
        length = int.from_bytes(head[26:28], "little")
        first = head[30 : 30 + length].decode("utf-8", "replace")
        return _TORCH_MEMBER.match(first) is not None

    save_options = ()

    def save(self, model: Any, path: Path, metadata: Metadata, **options: Any) -> Metadata:
        self.reject_options(options, self.save_options)
        import torch

        if not hasattr(model, "exported"):
            raise UnsupportedModelError(f"{a_or_an(type(model).__name__)} is not a PyTorch module; .pt2 files hold "
                                        "torch.export programs")
        try:
            program = model.exported()
        except ModelpackError:
            raise
        except Exception as exc:  # torch.export's refusals: data-dependent control flow, unsupported ops
            raise UnsupportedModelError(f"torch.export cannot trace this module: {first_line(exc)}") from exc
        metadata = metadata.replace(extra={**metadata.extra, "torch_program": "torch.export"})
        with tempfile.TemporaryDirectory() as folder:
            written = Path(folder) / "model.pt2"
            torch.export.save(program, str(written), extra_files={MEMBER: metadata.to_json()})
            shutil.copyfile(written, path)
        return metadata

    def read_metadata(self, path: Path) -> Metadata | None:
        found = _member(path, f"/extra/{MEMBER}")
        return Metadata.from_json(found) if found else None

    def describe(self, path: Path) -> dict[str, Any] | None:
        kind = _kind(_names(path))
        details: dict[str, Any] = {"producer": f"PyTorch ({kind})"}
        model_json = _member(path, "/models/model.json")
        if model_json:
            graph = json.loads(model_json).get("graph_module", {}).get("graph", {})
            nodes = graph.get("nodes", [])
            counts: dict[str, int] = {}
            for node in nodes:
                target = str(node.get("target", "")).replace("torch.ops.aten.", "")
                counts[target] = counts.get(target, 0) + 1
            details["operators"] = dict(sorted(counts.items(), key=lambda kv: -kv[1])[:20])
        return details

    def load(self, path: Path, metadata: Metadata | None, trust: Any = False, **options: Any) -> Any:
        self.reject_options(options, ("max_memory",))
        from .._zipped import charge_members
        from ._runtime import TorchModel, load_network

        names = _names(path)
        kind = _kind(names)
        if kind != "torch.export program" and trust is not True:
            raise UntrustedContentError(_refusal(path, kind))
        charge_members(path, options.get("max_memory"), "PyTorch file")
        network = load_network(path, kind, trust=trust is True)
        return TorchModel(network, self.read_metadata(path) or metadata, path)


def _names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{path.name} is not a valid PyTorch file: {exc}") from exc


def _kind(names: list[str]) -> str:
    if any(n.endswith("/models/model.json") for n in names):
        return "torch.export program"
    if any("/code/" in n for n in names) and any(n.endswith("/constants.pkl") for n in names):
        return "TorchScript"
    if any(n.endswith("/data.pkl") for n in names):
        return "torch.save pickle"
    return "unknown"


def _refusal(path: Path, kind: str) -> str:
    how = ("rebuild the module in Python, load_state_dict() into it, and save it with "
           "modelpack.save(module, 'model.pt2', sample=x), a torch.export program that needs no code")
    if kind == "torch.save pickle":
        return (f"{path.name} is a torch.save pickle (a state_dict or a pickled module): the architecture is Python "
                f"code, which modelpack does not run from a file; {how}")
    if kind == "TorchScript":
        return f"{path.name} is TorchScript, which runs its own code; {TRUST_HINT}, or {how}"
    return f"{path.name} is a zip modelpack does not recognise as a PyTorch program; {how}"


def _member(path: Path, suffix: str) -> bytes | None:
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename.endswith(suffix):
                    if info.file_size > 64 << 20:
                        raise CorruptFileError(f"{path.name}: {info.filename} is {info.file_size} bytes")
                    return zf.read(info)
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{path.name} is not a valid PyTorch file: {exc}") from exc
    return None
