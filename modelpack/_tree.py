"""The estimator tree of a pickled or skops-saved model, from what the file records, never run.

Pickles are read by the audit machine into inert stubs; skops files carry a JSON schema.
Both become the same small tree for ``modelpack info``: each estimator's class, where it
sits (a pipeline step, an attribute), and the facts a user asks first (features, classes,
the scikit-learn version that pickled it).
"""

from __future__ import annotations

import sys
from typing import Any

MAX_NODES = 200
MAX_DEPTH = 12
_LIBRARIES = ("sklearn", "xgboost", "lightgbm", "catboost", "imblearn")


def stub_tree(root: Any) -> dict[str, Any] | None:
    """The tree below an audit's root stub (see :class:`modelpack.safety.Audit`)."""
    if not hasattr(root, "module"):
        return None
    budget = [MAX_NODES]
    return _stub_node(root, None, budget, 0)


def _stub_node(stub: Any, where: str | None, budget: list[int], depth: int) -> dict[str, Any]:
    budget[0] -= 1
    state = stub.state if isinstance(stub.state, dict) else {}
    node: dict[str, Any] = {"class": f"{stub.module}.{stub.name}"}
    if where:
        node["at"] = where
    node.update(_facts(state))
    children: list[dict[str, Any]] = []
    if depth < MAX_DEPTH:
        for key, value in state.items():
            for at, child in _stubs_in(value, str(key)):
                if budget[0] <= 0:
                    break
                children.append(_stub_node(child, at, budget, depth + 1))
    if children:
        node["children"] = children
    return node


def _stubs_in(value: Any, at: str, depth: int = 0) -> list[tuple[str, Any]]:
    """Estimator stubs inside an attribute: directly, or in lists, tuples and dicts (a pipeline's steps)."""
    if hasattr(value, "module") and hasattr(value, "state"):
        return [(at, value)] if value.module.split(".")[0] in _LIBRARIES else []
    if depth > 3:
        return []
    if isinstance(value, (list, tuple)):
        # ("scaler", StandardScaler()) pairs are named by their first item
        if len(value) >= 2 and isinstance(value[0], str) and hasattr(value[1], "module"):
            return _stubs_in(value[1], f"{at}:{value[0]}", depth + 1)
        return [found for i, v in enumerate(value) for found in _stubs_in(v, f"{at}[{i}]", depth + 1)]
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in _stubs_in(v, f"{at}[{k!r}]", depth + 1)]
    return []


def _facts(state: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    np = sys.modules.get("numpy")  # a state holds numpy values only if reading the file imported numpy
    if isinstance(state.get("_sklearn_version"), str):
        facts["sklearn_version"] = state["_sklearn_version"]
    if isinstance(state.get("n_features_in_"), (int, np.integer) if np is not None else int):
        facts["n_features_in"] = int(state["n_features_in_"])
    for name, key in (("feature_names_in", "feature_names_in_"), ("classes", "classes_")):
        values = state.get(key)
        if np is not None and isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind in "biufUSO":
            facts[name] = [v.item() if isinstance(v, np.generic) else v for v in values[:50].tolist()]
    return facts


def skops_tree(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The tree in a skops file's ``schema.json`` (nodes with ``__module__``/``__class__``)."""
    budget = [MAX_NODES]
    return _skops_node(schema, None, budget, 0) if isinstance(schema, dict) else None


def _skops_node(node: dict[str, Any], where: str | None, budget: list[int], depth: int) -> dict[str, Any]:
    budget[0] -= 1
    out: dict[str, Any] = {"class": f"{node.get('__module__')}.{node.get('__class__')}"}
    if where:
        out["at"] = where
    attrs = _skops_attributes(node)
    for key, name in (("_sklearn_version", "sklearn_version"), ("n_features_in_", "n_features_in")):
        value = _json_value(attrs.get(key))
        if value is not None:
            out[name] = value
    children = []
    if depth < MAX_DEPTH:
        for key, value in attrs.items():
            for at, child in _skops_estimators(value, key, 0):
                if budget[0] <= 0:
                    break
                children.append(_skops_node(child, at, budget, depth + 1))
    if children:
        out["children"] = children
    return out


def _skops_attributes(node: dict[str, Any]) -> dict[str, Any]:
    content = node.get("content")
    if isinstance(content, dict) and isinstance(content.get("content"), dict):
        return content["content"]  # an ObjectNode's state is a DictNode
    return content if isinstance(content, dict) else {}


def _skops_estimators(value: Any, at: str, depth: int) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(value, (dict, list)) or depth > 4:
        return []
    if isinstance(value, dict) and str(value.get("__module__", "")).split(".")[0] in _LIBRARIES:
        return [(at, value)]
    items = value.get("content") if isinstance(value, dict) else value
    if isinstance(items, list):
        if len(items) >= 2 and _json_value(items[0]) is not None:
            return _skops_estimators(items[1], f"{at}:{_json_value(items[0])}", depth + 1)
        return [f for i, v in enumerate(items) for f in _skops_estimators(v, f"{at}[{i}]", depth + 1)]
    if isinstance(items, dict):
        return [f for k, v in items.items() for f in _skops_estimators(v, f"{at}[{k!r}]", depth + 1)]
    return []


def _json_value(node: Any) -> Any:
    """The value of a skops JSON node (``JsonNode`` in skops ≥ 0.6, ``JSONNode`` before)."""
    if not (isinstance(node, dict) and str(node.get("__loader__", "")).lower() == "jsonnode"):
        return None
    import json

    try:
        return json.loads(node.get("content", "null"))
    except (TypeError, ValueError):
        return node.get("content")
