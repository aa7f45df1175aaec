"""PMML as XML, read without ever expanding an entity or fetching a DTD.

A PMML document needs no DOCTYPE, so one is refused outright: that rules out
billion-laughs expansion and external entities (XXE) whatever the parser would do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.parsers import expat

from ...errors import CorruptFileError, UntrustedContentError

EXTENSION_NAME = "modelpack"


class _Stop(Exception):
    pass


class PmmlHead:
    """What the start of a PMML document says: its metadata extension, model element and function."""

    def __init__(self) -> None:
        self.extension: str | None = None
        self.model_element: str | None = None
        self.function: str | None = None
        self.has_pmml_root = False


_MODEL_ELEMENTS = {
    "TreeModel", "MiningModel", "RegressionModel", "GeneralRegressionModel", "NeuralNetwork",
    "SupportVectorMachineModel", "NaiveBayesModel", "NearestNeighborModel", "ClusteringModel",
    "Scorecard", "RuleSetModel", "AssociationModel", "BayesianNetworkModel", "GaussianProcessModel",
    "TextModel", "TimeSeriesModel", "AnomalyDetectionModel", "SequenceModel", "BaselineModel",
}


def _parser(path_name: str) -> Any:
    parser = expat.ParserCreate(namespace_separator=" ")

    def refuse_doctype(*_: Any) -> None:
        raise UntrustedContentError(
            f"{path_name} declares a DOCTYPE; PMML needs none, and modelpack refuses DTDs and "
            "entities (billion laughs, external entities) rather than expand them"
        )

    parser.StartDoctypeDeclHandler = refuse_doctype
    parser.EntityDeclHandler = refuse_doctype
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


def read_head(path: Path) -> PmmlHead:
    """Stream the document until the first model element; check it is PMML and safe."""
    head = PmmlHead()
    parser = _parser(path.name)

    def start(name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]
        if local == "PMML":
            head.has_pmml_root = True
        elif local == "Extension" and attrs.get("name") == EXTENSION_NAME and head.extension is None:
            head.extension = attrs.get("value")
        elif local in _MODEL_ELEMENTS:
            head.model_element, head.function = local, attrs.get("functionName")
            raise _Stop

    parser.StartElementHandler = start
    try:
        with open(path, "rb") as fh:
            parser.ParseFile(fh)
    except _Stop:
        pass
    except expat.ExpatError as exc:
        raise CorruptFileError(f"{path} is not well-formed XML: {exc}") from exc
    if not head.has_pmml_root:
        raise CorruptFileError(f"{path} is XML but not PMML (no <PMML> root element)")
    return head


_HEADER = re.compile(rb"<(?:\w+:)?Header\b[^>]*?(/?)>")


def insert_extension(document: bytes, metadata_json: str) -> bytes:
    """Put ``<Extension name="modelpack" value="{json}"/>`` first in the Header (as the schema orders it)."""
    from xml.sax.saxutils import quoteattr  # it imports urllib.request and ssl: only when a PMML is written

    extension = f"<Extension name={quoteattr(EXTENSION_NAME)} value={quoteattr(metadata_json)}/>".encode()
    match = _HEADER.search(document)
    if match is None:
        raise CorruptFileError("the PMML written by the converter has no Header")
    if match.group(1):  # <Header .../>: open it up
        opening = match.group(0)[:-2].rstrip() + b">"
        return document[: match.start()] + opening + extension + b"</Header>" + document[match.end():]
    return document[: match.end()] + extension + document[match.end():]


def metadata_json(head: PmmlHead) -> dict[str, Any] | None:
    return json.loads(head.extension) if head.extension else None
