"""What JPMML made of a PMML document, kept between processes, so a document is read by JAXB once.

In a fresh JVM, JAXB reading a document is most of a first load: 4.3 of 4.45 s for a 13 MB forest,
about 1 s for a 37 kB logistic regression (its classes load and run interpreted). Java's own
deserialization of the object JPMML built from it (its optimizing visitors applied) takes 0.2-0.8 s
on the same files. So after a document loads from its XML, that object is written to a cache entry
named by the SHA-256 of the document's bytes (and of the JPMML jars and Java version that made it);
the next load of the same bytes, in any process, builds its evaluator from the entry instead.

What keeps this safe: an entry is only ever read through a deserialization filter that admits the
PMML object model's classes (``org.dmg.pmml``, ``org.jpmml``), a handful of ``java.lang`` and
``java.util`` value classes and the XML DOM nodes an ``Extension`` holds, within bounds on depth,
references and array sizes; nothing else is instantiated. The folder is created private to the user, and
an entry another user owns is ignored. An entry that cannot be read (truncated, written by other
jars, refused by the filter) is removed and the document read from its XML, as without a cache.

``MODELPACK_CACHE_DIR`` chooses the folder (default: ``$XDG_CACHE_HOME/modelpack`` or
``~/.cache/modelpack``); ``MODELPACK_NO_CACHE=1`` turns the cache off. The folder is kept under
:data:`MAX_BYTES`, the least recently used entries going first.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

from ..._atomic import _create_temp, remove_stale

log = logging.getLogger("modelpack.pmml")

CACHE_DIR_ENV = "MODELPACK_CACHE_DIR"
NO_CACHE_ENV = "MODELPACK_NO_CACHE"
MAX_BYTES = 1 << 30  # the whole folder: about four times the XML it stands for, at 1/4 of the XML's size
FORMAT = b"modelpack-pmml-cache-1\n"  # bump when what is written changes

#: The classes an entry may hold; the JDK's pattern syntax (``.**``: a package and its subpackages;
#: arrays are checked by their element type). ``!*`` refuses the rest.
ALLOWED = ";".join([
    "maxdepth=20000", "maxrefs=50000000", "maxarray=100000000",
    "org.dmg.pmml.**", "org.jpmml.**",
    "java.lang.Object", "java.lang.Number", "java.lang.Enum", "java.lang.String", "java.lang.Boolean",
    "java.lang.Byte", "java.lang.Short", "java.lang.Integer", "java.lang.Long", "java.lang.Float",
    "java.lang.Double", "java.lang.Character", "java.math.BigInteger", "java.math.BigDecimal",
    "java.util.ArrayList", "java.util.Arrays$ArrayList", "java.util.Collections$*", "java.util.Vector", "java.util.Map$Entry",
    "java.util.AbstractMap$SimpleEntry", "java.util.AbstractMap$SimpleImmutableEntry",
    "java.util.LinkedHashMap", "java.util.HashMap", "java.util.LinkedHashSet", "java.util.HashSet",
    "java.util.BitSet", "java.util.EnumMap", "java.util.ImmutableCollections$*", "java.util.CollSer",
    "com.sun.org.apache.xerces.internal.dom.*",
    "!*",
])

_state = threading.local()  # .filtering: this thread is reading a cache entry
_factory: list[Any] = []  # the filter factory installed in this JVM (kept alive), or None if it could not be
_install_lock = threading.Lock()


def folder() -> Path | None:
    """Where entries live, or None when the cache is turned off."""
    if os.environ.get(NO_CACHE_ENV, "").strip() not in ("", "0"):
        return None
    chosen = os.environ.get(CACHE_DIR_ENV)
    if chosen:
        return Path(chosen).expanduser() / "pmml"
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        home = os.path.expanduser("~")
        if not os.path.isabs(home):  # no HOME and no passwd entry (some containers): not a folder named "~"
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "modelpack" / "pmml"


def install_filter() -> bool:
    """Make every ObjectInputStream this thread opens inside :func:`_filtered` use :data:`ALLOWED`.

    A JVM-wide filter factory (Java 17, JEP 415) that returns the allowlist only for a stream opened
    while the calling thread reads an entry, and otherwise what the JDK would have used: other Java
    code in the JVM sees no change. Called once the JVM has started; False when it cannot be set
    (another factory is installed), and then the cache is not used in this process."""
    with _install_lock:
        if not _factory:
            _factory.append(_new_factory())
        return _factory[0] is not None


def _new_factory() -> Any:
    import jpype

    config = jpype.JClass("java.io.ObjectInputFilter$Config")
    allowlist = config.createFilter(ALLOWED)

    @jpype.JImplements("java.util.function.BinaryOperator")
    class _Factory:
        @jpype.JOverride
        def apply(self, current: Any, requested: Any) -> Any:
            return allowlist if getattr(_state, "filtering", False) else requested

    factory = _Factory()
    try:
        config.setSerialFilterFactory(factory)
    except Exception as exc:  # IllegalStateException: a factory is set already
        log.debug("PMML cache off in this process: %s", exc)
        return None
    return factory


def entry_for(data: bytes) -> Path | None:
    """The cache entry for a document's bytes, once the JVM has started (None: the cache is off, or
    no filter could be installed to read it through)."""
    where = folder()
    if where is None or not install_filter():
        return None
    digest = hashlib.sha256(FORMAT + _runtime_stamp() + data).hexdigest()
    return where / f"{digest}.ser"


def read(entry: Path) -> Any | None:
    """The PMML object kept in ``entry``, or None (absent, not ours, unreadable: then removed)."""
    try:
        status = entry.stat()
    except OSError:
        return None
    if hasattr(os, "getuid") and status.st_uid != os.getuid():
        log.debug("ignoring %s: another user owns it", entry)
        return None
    import jpype

    try:
        serializer = jpype.JClass("org.jpmml.model.JavaSerializer")(jpype.JClass("java.lang.ClassLoader").getSystemClassLoader())
        stream = jpype.JClass("java.io.BufferedInputStream")(jpype.JClass("java.io.FileInputStream")(str(entry)), 1 << 16)
        try:
            with _filtered():
                pmml = serializer.deserialize(stream)
        finally:
            stream.close()
    except Exception as exc:  # InvalidClassException (refused, other jars), EOFException, StackOverflowError, gone
        discard(entry, exc)
        return None
    with contextlib.suppress(OSError):
        os.utime(entry)  # recently used: evicted last
    return pmml


def discard(entry: Path, why: Any) -> None:
    """Remove an entry that could not be used; the document is read from its XML instead."""
    log.debug("PMML cache entry %s not used, removed: %s", entry, why)
    with contextlib.suppress(OSError):
        entry.unlink()


def write(entry: Path, pmml: Any) -> None:
    """Keep ``pmml`` in ``entry`` (atomically; a failure only means the next load reads the XML)."""
    import jpype

    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        remove_stale(entry)
        temp = _create_temp(entry)
    except OSError as exc:
        log.debug("PMML cache not written: %s", exc)
        return
    try:
        stream = jpype.JClass("java.io.BufferedOutputStream")(jpype.JClass("java.io.FileOutputStream")(str(temp)), 1 << 16)
        try:
            jpype.JClass("org.jpmml.model.JavaSerializer")().serialize(pmml, stream)
        finally:
            stream.close()
        os.replace(temp, entry)
    except Exception as exc:  # a full disk, an object too deep to serialize
        log.debug("PMML cache not written: %s", exc)
        with contextlib.suppress(OSError):
            temp.unlink()
        return
    _evict(entry.parent, MAX_BYTES)


def kept(where: Path) -> list[Path]:
    """The entries in ``where``, not the temporaries being written beside them."""
    return list(where.glob("[!.]*.ser")) if where.is_dir() else []


def _evict(where: Path, budget: int) -> None:
    """Remove the least recently used entries until the folder holds at most ``budget`` bytes."""
    entries = []
    for path in kept(where):
        with contextlib.suppress(OSError):
            status = path.stat()
            entries.append((status.st_mtime, status.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= budget:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            total -= size


@contextlib.contextmanager
def _filtered() -> Any:
    _state.filtering = True
    try:
        yield
    finally:
        _state.filtering = False


@functools.cache
def _runtime_stamp() -> bytes:
    """What made an entry besides the document: the jars on the classpath and the Java version."""
    import jpype

    jars = sorted(Path(p).name for p in jpype.getClassPath().split(os.pathsep) if p)
    java = str(jpype.JClass("java.lang.System").getProperty("java.version"))
    return "\n".join([java, *jars]).encode() + b"\n"
