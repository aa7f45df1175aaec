"""What a MOJO declares, read from its zip without Java: ``model.ini`` and the domain files.

A MOJO is a zip: ``model.ini`` (``[info]`` key = value lines, ``[columns]`` one name per line, the
response last, ``[domains]`` ``index: count file`` lines) and ``domains/dNNN.txt`` with one level
per line. Every member read is bounded, so a zip bomb costs nothing.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import CorruptFileError
from .._zipped import read_member

#: What a MOJO scores, by H2O's model category; the rest (autoencoders, GLRM...) is refused.
TASKS = {"Binomial": "classifier", "Multinomial": "classifier", "Ordinal": "classifier",
         "Regression": "regressor", "Clustering": "clusterer"}


@dataclass
class Mojo:
    info: dict[str, str]
    columns: list[str]
    domains: dict[int, list[str]] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return self.info.get("category", "?")

    @property
    def features(self) -> list[str]:
        return self.columns[: int(self.info.get("n_features", len(self.columns)))]

    @property
    def supervised(self) -> bool:
        return self.info.get("supervised", "true") == "true"

    @property
    def classes(self) -> list[str] | None:
        if self.category not in ("Binomial", "Multinomial", "Ordinal"):
            return None
        return self.domains.get(len(self.columns) - 1)

    def describe(self) -> dict[str, Any]:
        inputs = [{"name": name, "type": "categorical" if i in self.domains else "numeric",
                   **({"values": self.domains[i]} if i in self.domains else {})} for i, name in enumerate(self.features)]
        details: dict[str, Any] = {
            "producer": f"H2O {self.info.get('h2o_version', '?')} (MOJO {self.info.get('mojo_version', '?')})",
            "model_type": f"h2o.{self.info.get('algo', '?')} ({self.category})",
            "algorithm": self.info.get("algorithm", self.info.get("algo", "?")),
            "function": self.category, "inputs": inputs, "timestamp": self.info.get("timestamp", ""),
        }
        if self.classes:
            details["classes"] = self.classes
        if self.supervised and len(self.columns) > len(self.features):
            details["targets"] = [{"name": self.columns[-1]}]
        return details


def read_mojo(path: Path) -> Mojo:
    """The MOJO's declarations; one line naming what is wrong for a zip that is not a MOJO."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "model.ini" not in names:
                raise CorruptFileError(f"{path.name} is a zip without model.ini: not an H2O MOJO "
                                       "(export one with model.download_mojo())")
            text = read_member(zf, "model.ini", path).decode("utf-8", errors="replace")
            section = ""
            info: dict[str, str] = {}
            columns: list[str] = []
            listed: dict[int, str] = {}
            for raw in text.splitlines():
                line = raw.strip()
                if not line:
                    continue
                if line.startswith("[") and line.endswith("]"):
                    section = line[1:-1]
                elif section == "info" and "=" in line:
                    key, _, value = line.partition("=")
                    info[key.strip()] = value.strip()
                elif section == "columns":
                    columns.append(raw.rstrip("\r\n"))
                elif section == "domains" and ":" in line:
                    number, _, rest = line.partition(":")
                    parts = rest.split()
                    if number.strip().isdigit() and len(parts) == 2:
                        listed[int(number)] = parts[1]
            domains: dict[int, list[str]] = {}
            for position, file in listed.items():
                member = f"domains/{file}"
                if member not in names:
                    raise CorruptFileError(f"{path.name}: model.ini names {member}, which the zip lacks")
                domains[position] = read_member(zf, member, path).decode("utf-8", errors="replace").splitlines()
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{path.name} is not a valid zip (an H2O MOJO is one): {exc}") from exc
    if not columns:
        raise CorruptFileError(f"{path.name}: model.ini lists no columns")
    return Mojo(info, columns, domains)
