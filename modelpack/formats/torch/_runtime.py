"""A loaded PyTorch program behind the :class:`~modelpack.Model` interface."""

from __future__ import annotations

import io
import json
import re
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
from ...safety import TRUST_HINT
from .._network import NetworkModel
from ._adapter import TorchPredictor

#: The members a torch.export program's archive holds: tensors as raw bytes, graphs as JSON.
_PROGRAM_MEMBER = re.compile(
    r"^[^/]+/(data/weights/(weight_\d+|model_weights_config\.json)|data/constants/(tensor_\d+|"
    r"model_constants_config\.json)|models/[\w.]+\.json|data/sample_inputs/[\w.]+\.pt|extra/[^/]+|archive_format|"
    r"archive_version|\.data/(version|serialization_id)|byteorder)$")


def check_program(data: bytes, name: str) -> None:
    """What ``torch.export.load`` would unpickle with ``weights_only=False`` must be absent or plain.

    torch.export.load unpickles pickled weights and constants, custom and opaque objects, and the
    sample inputs without restriction. A program saved by torch.export holds none of the first
    four and tensors only in the last: refuse any other member, any entry marked ``use_pickle``,
    and sample inputs that torch's own weights-only unpickler refuses.
    """
    import torch

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for member in zf.namelist():
            if not _PROGRAM_MEMBER.match(member):
                raise UntrustedContentError(f"{name} holds {member}, which a torch.export program does not; "
                                            f"torch would unpickle or run it; {TRUST_HINT}")
            if member.endswith("_config.json"):
                config = json.loads(zf.read(member)).get("config", {})
                pickled = [k for k, v in config.items() if isinstance(v, dict) and v.get("use_pickle")]
                if pickled:
                    raise UntrustedContentError(f"{name} stores {', '.join(pickled[:3])} as pickles, which torch "
                                                f"loads without restriction; {TRUST_HINT}")
            elif "/sample_inputs/" in member:
                try:
                    torch.load(io.BytesIO(zf.read(member)), weights_only=True)
                except Exception as exc:  # torch's weights-only unpickler refuses anything but tensors
                    raise UntrustedContentError(f"{name}: its sample inputs are not plain tensors "
                                                f"({first_line(exc, 160)}); {TRUST_HINT}") from exc


def load_network(path: Path, kind: str, trust: bool = False) -> Any:
    import torch

    try:
        if kind == "torch.export program":
            data = path.read_bytes()  # checked and loaded from the same bytes
            if not trust:
                check_program(data, path.name)
            return torch.export.load(io.BytesIO(data))
        if kind == "TorchScript":
            return torch.jit.load(str(path))
        loaded = torch.load(str(path), weights_only=False)  # trusted: the caller said so
    except ModelpackError:
        raise
    except Exception as exc:  # torch's own errors on a damaged or foreign file
        raise CorruptFileError(f"PyTorch cannot load {path.name}: {first_line(exc)}") from exc
    if not isinstance(loaded, torch.nn.Module):
        raise UnsupportedModelError(f"{path.name} holds {a_or_an(type(loaded).__name__)} (a state_dict?), not a module: "
                                    "there is nothing to predict with without the code that defines the network")
    return loaded


class TorchModel(NetworkModel):
    """A PyTorch program: labels (from the recorded classes), probabilities (softmax of the logits), or values."""

    def __init__(self, network: Any, metadata: Metadata | None, path: Path | None) -> None:
        classes = metadata.classes if metadata is not None else None
        sigmoid = metadata is not None and metadata.extra.get("network_output") == "logits-sigmoid"
        adapter = TorchPredictor(network, classes, sigmoid=sigmoid)
        if metadata is None:
            info = adapter.__modelpack__
            metadata = Metadata(format="torch", task=info["task"], model_type=info["model_type"],
                                versions=dict(info["versions"]))
        super().__init__(adapter, format="torch", path=path, metadata=metadata)
