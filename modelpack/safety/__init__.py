"""Loading pickles without running what they name, and auditing them the same way.

Unpickling runs code: every global a pickle names can be called with arguments of the file's
choosing. modelpack unpickles pickle and joblib files on one pure-Python machine
(:mod:`._vm`) that asks a policy before every opcode that could run code. The load policy
admits exact ``(module, name)`` pairs from a reviewed table (:mod:`._allowlist`), checks the
arguments of every call and the state of every native object (:mod:`._guards`), bounds memory
and depth (:mod:`._limits`), and checks the loaded graph where native code relies on one object
matching another. ``modelpack info`` runs the *same* machine with an audit policy that imports
nothing but numpy and records what loading would refuse, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CorruptFileError, ModelpackError, ResourceLimitError, first_line
from ._limits import TRUST_HINT, Budget, human, parse_size

if TYPE_CHECKING:
    from ._vm import Machine

# The machine, its policies and the allowlist are imported when a file is read or audited, not when
# a format module names a limit or the trust hint: listing the formats must not cost 20 ms.
__all__ = ["TRUST_HINT", "Audit", "admitted_outside_modelpack", "check_graph", "Budget", "audit_stream", "human", "load_stream", "parse_size", "untrusted_globals"]


def __getattr__(name: str) -> Any:
    if name == "check_graph":
        from ._policy import check_graph

        return check_graph
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_stream(raw: Any, source: str, budget: Budget, *, trust: Iterable[str] = (), joblib: bool = False) -> Any:
    """Unpickle one stream under the load policy; ``trust`` names extra globals admitted whole."""
    from ._policy import LoadPolicy
    from ._vm import BoundedReader, Machine

    policy = LoadPolicy(trusted=frozenset(trust), joblib=joblib)
    machine = Machine(BoundedReader(raw, budget), policy, budget, source)
    root = _run(machine)
    return policy.finish(machine, root)


@dataclass
class Audit:
    """What a pickle names and what loading it would refuse, read without importing any of it."""

    globals: list[str]
    refused: list[str]
    complete: bool
    problem: str | None = None
    root: Any = None
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def model_class(self) -> str | None:
        from ._policy import Stub

        return f"{self.root.module}.{self.root.name}" if isinstance(self.root, Stub) else None


def audit_stream(raw: Any, source: str, budget: Budget, *, joblib: bool = False) -> Audit:
    """Run the load machine with stubs: nothing but numpy and builtins is imported or called."""
    from ._policy import AuditPolicy
    from ._vm import BoundedReader, Machine

    policy = AuditPolicy(joblib=joblib)
    machine = Machine(BoundedReader(raw, budget), policy, budget, source)
    root, problem = None, None
    try:
        root = _run(machine)
    except ModelpackError as exc:
        problem = first_line(exc)
    globals_ = list(dict.fromkeys(policy.seen))
    refused = list(policy.refused)
    if problem:
        refused.append(f"unreadable past byte {machine.stream.raw.tell() if hasattr(machine.stream.raw, 'tell') else '?'}: "
                       f"{problem}; loading it would fail, and a file that hides its content is suspect")
    return Audit(globals_, refused, problem is None, problem, root, _versions(root))


def _versions(root: Any) -> dict[str, str]:
    """``_sklearn_version`` and the like, as recorded in the estimators' state."""
    state = getattr(root, "state", None)
    if isinstance(state, dict):
        version = state.get("_sklearn_version")
        if isinstance(version, str):
            return {"sklearn": version}
    return {}


def _run(machine: Machine) -> Any:
    try:
        return machine.load()
    except ModelpackError:
        raise
    except MemoryError:
        raise ResourceLimitError(f"{machine.source} ran out of memory while loading; it is not a model this machine "
                                 "can hold") from None
    except RecursionError:
        raise ResourceLimitError(f"{machine.source} nests objects too deep to load") from None
    except Exception as exc:
        from ..registry import NotThisFormat

        if isinstance(exc, NotThisFormat):
            raise
        if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], int):
            raise CorruptFileError(f"{machine.source} is not a valid pickle (unknown opcode {exc.args[0]:#04x})") from None
        raise CorruptFileError(f"{machine.source} is not a valid pickle: {type(exc).__name__}: {first_line(exc)}") from None


def admitted_outside_modelpack(dotted: str) -> bool:
    """Whether a type may be built by another library's loader (skops): plain classes, numpy and
    builtins yes; types whose state modelpack validates (trees, boosters) only under its own machine."""
    from ._allowlist import BUILD_DICT, entry_for

    parts = dotted.split(".")
    for i in range(1, len(parts)):
        entry = entry_for(".".join(parts[:i]), ".".join(parts[i:]))
        if entry is not None:
            return entry.build == BUILD_DICT or entry.audit_real or dotted in CHECKED_AFTER_SKOPS
    return False


#: Types skops builds whose state modelpack checks around skops' load: the constructor's
#: arguments from the schema before, the state itself after (``check_graph(native=True)``).
CHECKED_AFTER_SKOPS = frozenset({"sklearn.tree._tree.Tree",
                                 "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"})


def untrusted_globals(globals_: Iterable[str]) -> list[str]:
    """Of ``globals_`` (``module.name``), those the allowlist does not admit; imports nothing.

    skops names types by ``module.qualname``: the split is tried at every dot.
    """
    from ._allowlist import entry_for

    refused = []
    for dotted in dict.fromkeys(globals_):
        parts = dotted.split(".")
        if not any(entry_for(".".join(parts[:i]), ".".join(parts[i:])) for i in range(1, len(parts))):
            refused.append(dotted)
    return refused
