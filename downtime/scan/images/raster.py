"""PNG and JPEG pages through Pillow (EXIF orientation applied), and the Pillow helpers the
TIFF reader shares: grey conversion and quiet decoding."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO, Final

import numpy as np
from PIL import ExifTags, Image

from downtime.scan.images.model import GrayImage, PageImage, PageProblem, dpi_of, finish
from downtime.scan.images.problems import bomb, damaged, problem
from downtime.vocab import Reason

_PIL_FORMAT: Final = {"tiff": "TIFF", "png": "PNG", "jpeg": "JPEG"}


def read_single(
    source: str, kind: str, stream: BinaryIO, size: int, max_pixels: int
) -> PageImage | PageProblem:
    stream.seek(0)
    with quiet():
        try:
            image = Image.open(stream, formats=[_PIL_FORMAT[kind]])
        except Image.DecompressionBombError:
            return problem(
                source,
                1,
                Reason.DECOMPRESSION_BOMB,
                "the image claims more pixels than allowed; it was not opened. Scan the "
                "paper again at 200–300 dpi",
            )
        except Exception:
            return damaged(source, 0, kind, _looks_cut(kind, stream, size))
        with image:
            width, height = image.size
            if width * height > max_pixels:
                return bomb(source, 1, width, height, max_pixels, single=True)
            if width < 1 or height < 1:
                return damaged(source, 1, kind, cut=False)
            try:
                if kind == "jpeg" and image.mode == "RGB":
                    image.draft("L", image.size)  # decode luminance only, at full size
                image.load()
                gray = to_gray(image)
            except Image.DecompressionBombError:
                return bomb(source, 1, width, height, max_pixels, single=True)
            except Exception:
                return damaged(source, 1, kind, _looks_cut(kind, stream, size))
            dpi = _info_dpi(image.info)
            orientation = _orientation(image)  # after load(): Pillow's PNG getexif() loads
    if orientation is not None:
        gray = _orient(gray, orientation)
        if dpi is not None and orientation >= 5:
            dpi = (dpi[1], dpi[0])
    return PageImage(source, 1, finish(gray), dpi, kind)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Pillow warns about damaged files (and about big images: the limit here is ours); the
    caller hears about the file through a PageProblem instead. Never held across a yield."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _looks_cut(kind: str, stream: BinaryIO, size: int) -> bool:
    """Does the file lack the end a complete file of its kind has?"""
    try:
        stream.seek(max(0, size - 4096))
        tail = stream.read()
    except (OSError, ValueError):
        return False
    if kind == "png":
        return not tail.endswith(b"IEND\xae\x42\x60\x82")
    if kind == "jpeg":
        return b"\xff\xd9" not in tail  # some cameras put data after the end marker
    return False


def _info_dpi(info: Mapping[Any, Any]) -> tuple[float, float] | None:
    value = info.get("dpi")
    if not isinstance(value, tuple) or len(value) != 2:
        return None
    return dpi_of(value[0], value[1])


def _orientation(image: Image.Image) -> int | None:
    """The EXIF orientation (2–8) when it asks for a turn or flip, else None."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation)
    except Exception:
        return None
    return value if isinstance(value, int) and 2 <= value <= 8 else None


def _orient(gray: GrayImage, orientation: int) -> GrayImage:
    """Turn stored pixels upright as EXIF orientation says (as ``ImageOps.exif_transpose``)."""
    turned = {
        2: gray[:, ::-1],
        3: gray[::-1, ::-1],
        4: gray[::-1, :],
        5: gray.T,
        6: np.rot90(gray, -1),
        7: gray.T[::-1, ::-1],
        8: np.rot90(gray, 1),
    }[orientation]
    return np.ascontiguousarray(turned)


def to_gray(image: Image.Image) -> GrayImage:
    """A loaded Pillow image as gray uint8: alpha composited on white, 1-bit as 0/255,
    16-bit scaled down."""
    mode = image.mode
    if mode == "L":
        return np.asarray(image, dtype=np.uint8)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
    if mode == "I":
        wide = np.asarray(image, dtype=np.int64)
        return np.asarray(np.clip(wide, 0, 65535) >> 8, dtype=np.uint8)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        return np.asarray(white.convert("L"), dtype=np.uint8)
    return np.asarray(image.convert("L"), dtype=np.uint8)
