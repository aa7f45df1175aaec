"""Images as model input: one preprocessing recipe, recorded with the model, used everywhere.

A network trained on 64×64 RGB images scaled to [0, 1] must be fed exactly that, whether
the pixels come from a folder (``modelpack predict --data images/``), a conversion's check,
or a file uploaded to ``serve``. The recipe is saved in the model's metadata
(``modelpack.save(net, "m.keras", preprocess={"size": [64, 64]})``), so it travels inside
.keras and .onnx files and in TF Lite's sidecar, and every entry point prepares pixels with
this module.

Untrusted images are bounded: the header is read first and an image larger than
``MAX_PIXELS`` is refused before its pixels are decoded.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidInputError, MissingDependencyError

#: Largest image decoded (a 50-megapixel photo); a decompression bomb is refused from its header.
MAX_PIXELS = 50_000_000
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class Preprocess:
    """How pixels become the network's input.

    size: (width, height) the network takes. An image of another size is refused, unless
        ``resize`` (then it is resized with bilinear filtering).
    mode: "RGB" or "L" (grey); images are converted to it.
    layout: "NHWC" (Keras, TF Lite) or "NCHW" (PyTorch).
    scale, mean, std: ``(pixel * scale - mean) / std`` per channel, after conversion to float32.
    """

    size: tuple[int, int]
    mode: str = "RGB"
    layout: str = "NHWC"
    scale: float = 1 / 255
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    resize: bool = False

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Preprocess:
        unknown = set(d) - {"size", "mode", "layout", "scale", "mean", "std", "resize"}
        if unknown:
            raise InvalidInputError(f"preprocess takes size, mode, layout, scale, mean, std, resize; not "
                                    f"{', '.join(sorted(unknown))}")
        try:
            width, height = (int(v) for v in d["size"])
            spec = cls(size=(width, height), mode=str(d.get("mode", "RGB")), layout=str(d.get("layout", "NHWC")),
                       scale=float(d.get("scale", 1 / 255)),
                       mean=tuple(float(v) for v in _sequence(d.get("mean", (0.0,)))),
                       std=tuple(float(v) for v in _sequence(d.get("std", (1.0,)))),
                       resize=bool(d.get("resize", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"preprocess needs size=[width, height] and numbers for scale, mean and std "
                                    f"({type(exc).__name__}: {exc})") from exc
        if spec.mode not in ("RGB", "L") or spec.layout not in ("NHWC", "NCHW"):
            raise InvalidInputError("preprocess mode is RGB or L, layout NHWC or NCHW")
        if not (0 < width <= 16384 and 0 < height <= 16384):
            raise InvalidInputError(f"preprocess size {width}×{height} is not a size an image can have here")
        if any(len(v) not in (1, spec.channels) for v in (spec.mean, spec.std)) or any(s == 0 for s in spec.std):
            raise InvalidInputError(f"preprocess mean and std take one value or one per channel ({spec.channels}), "
                                    "and std must not be 0")
        return spec

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"], d["mean"], d["std"] = list(self.size), list(self.mean), list(self.std)
        return d

    @property
    def channels(self) -> int:
        return 3 if self.mode == "RGB" else 1

    def prepare(self, source: str | Path | bytes, name: str) -> np.ndarray:
        """One image (a path or its bytes) as a float32 array in the network's layout, without the batch axis."""
        image = _open(source, name)
        if image.size != self.size:
            if not self.resize:
                raise InvalidInputError(
                    f"{name} is {image.size[0]}×{image.size[1]}; the model takes {self.size[0]}×{self.size[1]} images "
                    "(resize them, or save the model with preprocess resize=True)")
            from PIL import Image

            image = image.resize(self.size, Image.Resampling.BILINEAR)
        pixels = np.asarray(image.convert(self.mode), dtype=np.float32)
        if pixels.ndim == 2:
            pixels = pixels[:, :, np.newaxis]
        mean, std = np.asarray(self.mean, dtype=np.float32), np.asarray(self.std, dtype=np.float32)
        pixels = ((pixels * np.float32(self.scale) - mean) / std).astype(np.float32)
        return np.ascontiguousarray(pixels.transpose(2, 0, 1) if self.layout == "NCHW" else pixels, dtype=np.float32)


def _sequence(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _open(source: str | Path | bytes, name: str) -> Any:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise MissingDependencyError("reading images needs Pillow; run: pip install 'modelpack-ml[images]'") from exc
    import io

    too_big = f"{name} is over the {MAX_PIXELS:,} pixels modelpack decodes; it is refused from its header"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # Pillow's own check, from the header
            image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        width, height = image.size  # from the header: nothing decoded yet
        if width * height > MAX_PIXELS:
            raise InvalidInputError(f"{too_big} ({width}×{height})")
        image.load()
    except InvalidInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInputError(f"{too_big} ({exc})") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInputError(f"{name} is not an image modelpack can read: {exc}") from exc
    return image


def preprocess_of(metadata: Any) -> Preprocess | None:
    recorded = metadata.extra.get("preprocess") if metadata is not None else None
    return Preprocess.from_dict(recorded) if recorded else None


def image_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not files:
        raise InvalidInputError(f"{folder} holds no images ({', '.join(EXTENSIONS)})")
    return files


def iter_image_batches(folder: Path, spec: Preprocess | None, batch_size: int) -> Iterator[tuple[np.ndarray, list[str]]]:
    """A folder's images in name order, as (batch array, file names)."""
    if spec is None:
        raise InvalidInputError(
            f"{folder} is a folder of images, but the model records no preprocessing; save it with "
            "preprocess={'size': [width, height], ...} (see docs/formats.md)")
    files = image_files(folder)
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        yield np.stack([spec.prepare(f, f.name) for f in chunk]), [f.name for f in chunk]
