"""TIFF pages through Pillow: every page, with the page chain walked (and a cut-off file
repaired) without decoding, so that damage is reported page by page."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import BinaryIO

from PIL import Image, TiffImagePlugin

from downtime.scan.images.model import PageImage, PageProblem, dpi_of, finish
from downtime.scan.images.problems import bomb, damaged, problem, too_many
from downtime.scan.images.raster import quiet, to_gray
from downtime.vocab import Reason


def read_tiff(
    source: str,
    stream: BinaryIO,
    size: int,
    max_pixels: int,
    max_pages: int,
    only: int | None = None,
) -> Iterator[PageImage | PageProblem]:
    frames, cut, looped = tiff_directories(stream, size, max_pages + 1)
    if frames == 0:
        yield damaged(source, 0, "tiff", cut)
        return
    if cut:
        stream = _tiff_repaired(stream, frames)
    stream.seek(0)
    try:
        with quiet():
            image = Image.open(stream, formats=["TIFF"])
    except Image.DecompressionBombError:
        yield problem(
            source,
            1,
            Reason.DECOMPRESSION_BOMB,
            "page 1 claims more pixels than allowed; it was not opened. Scan the paper again "
            "at 200–300 dpi",
        )
        return
    except Exception:
        yield damaged(source, 0, "tiff", _tiff_data_cut_any(stream, size) or cut)
        return
    with image:
        indices = range(min(frames, max_pages))
        if only is not None:
            indices = range(only - 1, only) if only - 1 in indices else range(0)
        for index in indices:
            yield _tiff_frame(image, source, index, size, max_pixels)
    if only is None:
        yield from tiff_tail(source, frames, max_pages, cut, looped)


def tiff_tail(
    source: str, frames: int, max_pages: int, cut: bool, looped: bool
) -> list[PageProblem]:
    if frames > max_pages:
        return [too_many(source, max_pages, None)]
    if cut:
        return [
            problem(
                source,
                frames + 1,
                Reason.TRUNCATED_FILE,
                f"the file ends early: page {frames + 1} and any after it are missing. Copy "
                "or export the file again, or scan those sheets again",
            )
        ]
    if looped:
        return [
            problem(
                source,
                frames + 1,
                Reason.CORRUPT_FILE,
                f"the file is damaged after page {frames} (its page list loops); pages after "
                "it may be missing. Export the file again or scan the sheets again",
            )
        ]
    return []


def _tiff_frame(
    image: Image.Image, source: str, index: int, size: int, max_pixels: int
) -> PageImage | PageProblem:
    number = index + 1
    with quiet():
        try:
            image.seek(index)
            width, height = image.size
        except Exception:
            return damaged(source, number, "tiff", _tiff_data_cut(image, size))
        if width * height > max_pixels:
            return bomb(source, number, width, height, max_pixels)
        if width < 1 or height < 1:
            return damaged(source, number, "tiff", cut=False)
        try:
            image.load()
            gray = to_gray(image)
        except Exception:
            return damaged(source, number, "tiff", _tiff_data_cut(image, size))
    return PageImage(source, number, finish(gray), _tiff_dpi(image), "tiff")


def tiff_directories(stream: BinaryIO, size: int, limit: int) -> tuple[int, bool, bool]:
    """Walk the chain of TIFF image directories (pages) without decoding anything.

    Returns how many complete directories there are (counting stops at ``limit``), whether
    the chain runs past the end of the file (cut off), and whether it loops (damaged).
    """
    stream.seek(0)
    header = stream.read(8)
    if len(header) < 8:
        return 0, True, False
    order = "<" if header[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", header[4:8])
    seen: set[int] = set()
    count = 0
    while offset and count < limit:
        if offset in seen:
            return count, False, True
        seen.add(offset)
        stream.seek(offset)
        raw = stream.read(2)
        if offset + 2 > size or len(raw) < 2:
            return count, True, False
        (entries,) = struct.unpack(order + "H", raw)
        stream.seek(offset + 2 + 12 * entries)
        raw = stream.read(4)
        if len(raw) < 4:
            return count, True, False
        count += 1
        (offset,) = struct.unpack(order + "I", raw)
    return count, False, False


def _tiff_repaired(stream: BinaryIO, frames: int) -> BinaryIO:
    """A copy of a cut-off TIFF whose page chain ends cleanly after its last complete page,
    so that libtiff reads the complete pages without tripping over the missing ones."""
    stream.seek(0)
    data = bytearray(stream.read())
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack_from(order + "I", data, 4)
    for _ in range(frames - 1):
        (entries,) = struct.unpack_from(order + "H", data, offset)
        (offset,) = struct.unpack_from(order + "I", data, offset + 2 + 12 * entries)
    (entries,) = struct.unpack_from(order + "H", data, offset)
    struct.pack_into(order + "I", data, offset + 2 + 12 * entries, 0)
    return io.BytesIO(bytes(data))


def _tiff_data_cut(image: Image.Image, size: int) -> bool:
    """Does the current page's image data reach past the end of the file?"""
    try:
        tags = image.tag_v2  # type: ignore[attr-defined]
        offsets = tags.get(TiffImagePlugin.STRIPOFFSETS) or tags.get(324)
        counts = tags.get(TiffImagePlugin.STRIPBYTECOUNTS) or tags.get(325)
        if not offsets or not counts:
            return False
        if isinstance(offsets, int):
            offsets = (offsets,)
        if isinstance(counts, int):
            counts = (counts,)
        return any(int(o) + int(n) > size for o, n in zip(offsets, counts, strict=False))
    except Exception:
        return False


def _tiff_data_cut_any(stream: BinaryIO, size: int) -> bool:
    frames, cut, _looped = tiff_directories(stream, size, 1)
    return cut or frames == 0


def _tiff_dpi(image: Image.Image) -> tuple[float, float] | None:
    tags = getattr(image, "tag_v2", None)
    if tags is None:
        return None
    x = tags.get(TiffImagePlugin.X_RESOLUTION)
    y = tags.get(TiffImagePlugin.Y_RESOLUTION)
    unit = tags.get(TiffImagePlugin.RESOLUTION_UNIT, 2)  # the TIFF default is inch
    if x is None or y is None:
        return None
    if unit == 2:
        return dpi_of(x, y)
    if unit == 3:  # centimetre
        return dpi_of(float(x) * 2.54, float(y) * 2.54)
    return None  # 1: no absolute unit
