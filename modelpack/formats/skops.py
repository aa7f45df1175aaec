"""skops' secure format: a zip of JSON and arrays, nothing constructed unless its type is trusted."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import (
    CorruptFileError,
    ModelpackError,
    ResourceLimitError,
    UnsupportedModelError,
    UntrustedContentError,
    a_or_an,
    first_line,
)
from ..metadata import Metadata
from ..safety import TRUST_HINT, admitted_outside_modelpack, human, untrusted_globals
from ..safety._limits import MAX_MEMBER
from ._object import ObjectFormat, installed_version
from ._sklearn_versions import version_way_out
from ._zipped import charge_members, metadata_member, read_member

if TYPE_CHECKING:
    from ..model import SklearnModel

MEMBER = "modelpack.json"


class SkopsFormat(ObjectFormat):
    name = "skops"
    extensions = (".skops",)
    requires = "skops"
    dependencies = ("skops",)
    sniff_priority = 30

    def sniff(self, head: bytes) -> bool:
        # The zip's members may come in any order; ``load`` checks for skops' schema.json.
        return head.startswith(b"PK\x03\x04")

    save_options = ("compression",)

    def save(self, model: Any, path: Path, metadata: Metadata, compression: int = zipfile.ZIP_DEFLATED, **options: Any) -> Metadata:
        self.reject_options(options, self.save_options)
        import skops.io as sio

        try:
            sio.dump(model, path, compression=compression)
        except Exception as exc:  # skops' UnsupportedTypeException and the like, for a type it cannot write
            raise UnsupportedModelError(f"skops cannot write {a_or_an(type(model).__name__)}: {first_line(exc)}; "
                                        "save it as joblib, pickle or ONNX instead") from exc
        # The zip has room for our metadata; skops ignores members its schema does not name.
        with zipfile.ZipFile(path, "a", compression=compression) as zf:
            zf.writestr(MEMBER, metadata.to_json())
        return metadata

    def read_metadata(self, path: Path) -> Metadata | None:
        return metadata_member(path, MEMBER, "skops file")

    def describe(self, path: Path) -> dict[str, Any] | None:
        """The skops protocol, the skops version that wrote the file, and its estimators."""
        from .._tree import skops_tree

        try:
            with zipfile.ZipFile(path) as zf:
                if "schema.json" not in zf.namelist():
                    return None
                schema = json.loads(read_member(zf, "schema.json", path))
        except (zipfile.BadZipFile, ValueError) as exc:
            raise CorruptFileError(f"{path.name} is not a valid skops file: {first_line(exc)}") from exc
        if not isinstance(schema, dict):
            return None
        return {"skops_protocol": schema.get("protocol"), "skops_version": schema.get("_skops_version"),
                "estimators": skops_tree(schema)}

    def load(self, path: Path, metadata: Metadata | None, trust: Any = False, max_memory: int | str | None = None,
             **options: Any) -> SklearnModel:
        self.reject_options(options)
        import skops.io as sio

        metadata = metadata or self.read_metadata(path)
        _check_members(path)
        charge_members(path, max_memory, "skops file")
        trees = _schema_trees(path)  # read once, for the two checks below
        if trust is not True:
            _check_tree_arguments(path, trees)
        try:
            untrusted = sio.get_untrusted_types(file=path)
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise CorruptFileError(f"{path} is not a valid skops file: {exc}") from exc
        if trust is not True:
            allowed = set() if trust is False else set(trust)
            refused = [t for t in untrusted_globals(untrusted) if t not in allowed]
            if refused:
                raise UntrustedContentError(
                    f"{path.name} contains types skops does not trust by default: {', '.join(refused)}; "
                    f"{TRUST_HINT}, or pass trust=[...] naming exactly those types"
                )
            # skops builds objects itself, outside modelpack's checks of native state: a tree's
            # node indices, a booster's model. Those types load from pickle/joblib, checked, or trusted.
            native = [t for t in untrusted if not admitted_outside_modelpack(t) and t not in allowed]
            if native:
                raise UntrustedContentError(
                    f"{path.name} holds {', '.join(native)}, whose native state skops rebuilds without the checks "
                    f"modelpack applies to it (skops itself distrusts it); {TRUST_HINT}, or pass trust=[...] naming "
                    "those types, or save the model as .joblib, whose loading checks it"
                )
        upgraded = _with_current_tree_nodes(path, trees)
        try:
            loaded = self.unpickle(path, lambda: sio.load(path, trusted=untrusted) if upgraded is None
                                   else sio.loads(upgraded, trusted=untrusted))
        except ModelpackError:
            raise
        except Exception as exc:  # skops or scikit-learn refusing what an older version stored
            raise self._skops_failure(path, exc) from exc
        if trust is not True:
            from ..safety import check_graph

            check_graph(loaded.estimator, path.name, native=True)  # before anything calls predict
        return self.wrap(loaded, path, metadata)


    def _skops_failure(self, path: Path, exc: Exception) -> ModelpackError:
        described = self.describe(path) or {}
        recorded = (described.get("estimators") or {}).get("sklearn_version")
        current = installed_version("sklearn")
        if recorded and current and recorded != current:
            return UnsupportedModelError(
                f"{path.name} was saved with scikit-learn {recorded} (skops {described.get('skops_version') or '?'}), "
                f"and scikit-learn {current} cannot rebuild it ({first_line(exc, 160)}); "
                f"{version_way_out(path.name, recorded)}"
            )
        return CorruptFileError(f"skops cannot load {path.name}: {type(exc).__name__}: {first_line(exc)}")


def _check_members(path: Path) -> None:
    """A schema.json, of a size a schema has."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if "schema.json" not in names:
                raise CorruptFileError(f"{path} is a zip file but not a skops file (no schema.json)")
            if zf.getinfo("schema.json").file_size > MAX_MEMBER:
                raise ResourceLimitError(f"{path.name}: schema.json is {human(zf.getinfo('schema.json').file_size)}, over "
                                         f"the {human(MAX_MEMBER)} a skops schema may take")
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{path} is not a valid skops file: {exc}") from exc


def _schema_trees(path: Path) -> list[dict[str, Any]]:
    """The schema entries of the skops file at ``path`` that skops builds a scikit-learn ``Tree`` from."""
    with zipfile.ZipFile(path) as zf:
        return list(_trees_in(json.loads(read_member(zf, "schema.json", path))))


def _check_tree_arguments(path: Path, trees: list[dict[str, Any]]) -> None:
    """skops calls Tree(n_features, n_classes, n_outputs) with values from the file: check them first."""
    import io

    import numpy as np

    from ..safety._guards import Refused, check_tree_args

    with zipfile.ZipFile(path) as zf:
        for node in trees:
            try:
                parts = node["__reduce__"]["args"]["content"]
                n_features, n_outputs = (int(json.loads(parts[i]["content"])) for i in (0, 2))
                with zf.open(parts[1]["file"]) as fh:
                    n_classes = np.load(io.BytesIO(fh.read(1 << 20)), allow_pickle=False)
                check_tree_args((n_features, n_classes, n_outputs))
            except Refused as exc:
                raise UntrustedContentError(f"{path.name}: sklearn.tree._tree.Tree refused: {exc}") from None
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise UntrustedContentError(f"{path.name}: a decision tree's constructor arguments are malformed ({exc})") from None


def _trees_in(schema: Any) -> Iterator[dict[str, Any]]:
    """The schema entries of a skops file that skops builds a scikit-learn ``Tree`` from."""
    todo: list[Any] = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        todo.extend(node.values())
        if (node.get("__module__"), node.get("__class__")) == ("sklearn.tree._tree", "Tree"):
            yield node


def _with_current_tree_nodes(path: Path, trees: list[dict[str, Any]]) -> bytes | None:
    """The skops file's bytes with every tree's nodes in this scikit-learn's layout, where a tree was
    saved before 1.3 (its nodes without ``missing_go_to_left``, which scikit-learn refuses: the pickle
    machine upgrades the same arrays in pickles); None when no tree needs it. skops then builds the
    trees from these bytes, and modelpack checks them after, as for any skops file."""
    import io

    import numpy as np

    from ..safety._guards import nodes_before_1_3, upgraded_tree_nodes

    before_1_3 = nodes_before_1_3()
    replaced: dict[str, bytes] = {}
    if not trees:
        return None
    with zipfile.ZipFile(path) as zf:
        for tree in trees:
            try:
                member = tree["content"]["content"]["nodes"]["file"]
                with zf.open(member) as fh:  # the header first: a current tree's nodes are not read
                    version = np.lib.format.read_magic(fh)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    if read_header(fh)[2] != before_1_3:
                        if not replaced:  # one scikit-learn wrote every tree of a file: none is old
                            return None
                        continue
                    nodes = np.load(io.BytesIO(zf.read(member)), allow_pickle=False)
            except (KeyError, TypeError, ValueError, OSError):
                continue  # not the layout this reads: skops and the checks after it decide
            upgraded = upgraded_tree_nodes(nodes)
            if upgraded is not None:
                out = io.BytesIO()
                np.save(out, upgraded, allow_pickle=False)
                replaced[member] = out.getvalue()
        if not replaced:
            return None
        rewritten = io.BytesIO()
        with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as new:
            for info in zf.infolist():
                new.writestr(info.filename, replaced.get(info.filename) or zf.read(info))
    return rewritten.getvalue()
