"""``modelpack serve FILE --dockerfile DIR``: a Docker build context that serves FILE as it is served here.

The context holds everything the build needs and nothing it must fetch from elsewhere but the
package index: the model (and its sidecar), a wheel of the modelpack that is running (repacked
from its installed files, so a development checkout ships what it runs, and the image never
depends on the name being published), a constraints file pinning the libraries installed here
that the image needs (a pickle loads with the scikit-learn it was checked with), and the
Dockerfile: installs, a non-root user that can read the model, a health check, the same command.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

from .. import __version__

#: The distribution's name on the package index (the import name is ``modelpack``).
DISTRIBUTION = "modelpack-ml"
PORT = 8000


#: Recorded versions that are not libraries to install.
NOT_LIBRARIES = {"python", "modelpack"}


def model_libraries(versions: dict[str, str]) -> list[str]:
    """``name==version`` for the libraries the model's metadata says it was saved with: a pickled
    scikit-learn (or XGBoost, LightGBM) model needs its library, at its version, in the image."""
    from ..formats._object import DISTRIBUTIONS

    return sorted(f"{DISTRIBUTIONS.get(name, name)}=={version}" for name, version in versions.items()
                  if name not in NOT_LIBRARIES and version and "+" not in version)


def write_context(config: Any, folder: Path, requires: list[str], overwrite: bool = False,
                  libraries: list[str] | None = None) -> list[str]:
    """Write the build context into ``folder`` (created whole, or not at all); returns its file names."""
    from .._atomic import atomic_folder
    from ..metadata import sidecar_path

    model = Path(config.path)
    extras = sorted({"serve", *requires})
    with atomic_folder(folder, overwrite=overwrite) as temp:
        temp.mkdir()
        names = [model.name]
        shutil.copyfile(model, temp / model.name)
        sidecar = sidecar_path(model)
        if sidecar.exists():
            shutil.copyfile(sidecar, temp / sidecar.name)
            names.append(sidecar.name)
        wheel = running_wheel(temp)
        pins = constraints(extras)
        (temp / "constraints.txt").write_text("".join(f"{pin}\n" for pin in pins))
        (temp / "Dockerfile").write_text(dockerfile(config, names, wheel.name, extras, libraries or []))
        (temp / ".dockerignore").write_text("*\n" + "".join(f"!{n}\n" for n in [*names, wheel.name, "constraints.txt"]))
        for path in temp.iterdir():
            path.chmod(0o644)  # readable by the image's user whatever this umask says
    return sorted([*names, wheel.name, "constraints.txt", "Dockerfile", ".dockerignore"])


def dockerfile(config: Any, models: list[str], wheel: str, extras: list[str], libraries: list[str]) -> str:
    """The Dockerfile: ``RUN`` installs the wheel under the constraints; ``CMD`` is the same server."""
    name = models[0]
    cors = "".join(f', "--cors-origin", "{o}"' for o in config.cors_origins)
    trust = ', "--trust"' if config.trust else ""
    memory = f', "--max-memory", "{config.max_memory}"' if config.max_memory else ""
    memory += ', "--runtime", "onnx"' if getattr(config, "runtime", "native") == "onnx" else ""
    tag = Path(name).stem.lower().replace("_", "-") + "-api"
    command = ["modelpack", "serve", f"/models/{name}", "--host", "0.0.0.0", "--port", str(PORT),
               "--workers", str(config.workers), "--threads", str(config.threads),
               "--max-rows", str(config.max_rows), "--max-body", str(config.max_body),
               "--max-queue", str(config.max_queue), "--inline-ms", f"{config.inline_budget * 1000:g}",
               "--header-timeout", f"{config.header_timeout:g}", "--body-timeout", f"{config.body_timeout:g}",
               "--idle-timeout", f"{config.idle_timeout:g}"]
    return f"""# Serves {name} with modelpack {__version__}, as `modelpack serve` does where this was written.
#   docker build -t {tag} . && docker run -p {PORT}:{PORT} {tag}
FROM python:3.11-slim
COPY {wheel} constraints.txt /tmp/modelpack/
RUN pip install --no-cache-dir --constraint /tmp/modelpack/constraints.txt "/tmp/modelpack/{wheel}[{",".join(extras)}]"{"".join(f" {lib}" for lib in libraries)} \\
    && rm -rf /tmp/modelpack
RUN useradd --create-home --uid 10001 modelpack
COPY {" ".join(models)} /models/
RUN chmod -R a+rX /models
USER modelpack
EXPOSE {PORT}
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{PORT}/health', timeout=4)"
CMD {json.dumps(command)[:-1]}{cors}{trust}{memory}]
"""


def running_wheel(folder: Path) -> Path:
    """A wheel of the installed modelpack, built from the files Python imports it from.

    Its metadata (requirements, extras, entry points) is the installed distribution's own.
    """
    import modelpack

    dist = importlib.metadata.distribution(DISTRIBUTION)
    info = f"{DISTRIBUTION.replace('-', '_')}-{dist.version}.dist-info"
    path = folder / f"{DISTRIBUTION.replace('-', '_')}-{dist.version}-py3-none-any.whl"
    package = Path(modelpack.__file__).parent
    members: list[tuple[str, bytes]] = []
    for file in sorted(package.rglob("*")):
        if file.is_file() and "__pycache__" not in file.parts and file.suffix not in (".pyc", ".pyo"):
            members.append((f"modelpack/{file.relative_to(package).as_posix()}", file.read_bytes()))
    metadata = dist.read_text("METADATA") or dist.read_text("PKG-INFO")  # a wheel's, or a source tree's egg-info
    if not metadata:
        from ..errors import MissingDependencyError

        raise MissingDependencyError(f"the installed {DISTRIBUTION} has no package metadata to build a wheel from; "
                                     f"reinstall it (pip install {DISTRIBUTION})")
    members.append((f"{info}/METADATA", metadata.encode()))
    members.append((f"{info}/entry_points.txt", (dist.read_text("entry_points.txt") or "").encode()))
    members.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: modelpack\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in members] + [f"{info}/RECORD,,"]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def constraints(extras: list[str]) -> list[str]:
    """``name==version`` for every installed distribution the wheel with ``extras`` needs."""
    try:
        from packaging.requirements import Requirement
        from packaging.utils import canonicalize_name
    except ImportError:  # pip resolves from the wheel's own bounds then
        return []
    pinned: dict[str, str] = {}
    pending = [(DISTRIBUTION, set(extras))]
    while pending:
        name, wanted = pending.pop()
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        key = canonicalize_name(name)
        if key != DISTRIBUTION:
            pinned[key] = f"{dist.metadata['Name']}=={dist.version}"
        for text in dist.requires or []:
            requirement = Requirement(text)
            env = [{"extra": e} for e in wanted or {""}]
            if requirement.marker is not None and not any(requirement.marker.evaluate(e) for e in env):
                continue
            child = canonicalize_name(requirement.name)
            if child == DISTRIBUTION:  # the extras that name other extras (all = [modelpack-ml[...]])
                pending.append((DISTRIBUTION, set(requirement.extras) - wanted))
                wanted |= set(requirement.extras)
            elif child not in pinned:
                pending.append((child, set(requirement.extras)))
    return sorted(pin for pin in pinned.values() if "+" not in pin.split("==")[1])  # local builds are not on the index
