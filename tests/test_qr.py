"""QR encoding: both encoders make the same kind of symbol, and the fallback works."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import zxingcpp
from PIL import Image
from pyzbar import pyzbar

from downtime.codes import qr
from downtime.errors import DependencyError

# A typical page code: 204 characters, all in the QR alphanumeric set.
CODE = "DK1:" + "6BFOXN*TDLZ1E:V9F.3$B7KT" * 8 + "ABCDEFGH"


def as_image(matrix: np.ndarray, scale: int = 4, quiet: int = 4) -> Image.Image:
    padded = np.pad(matrix, quiet, constant_values=False)
    pixels = np.where(padded, 0, 255).astype(np.uint8)
    return Image.fromarray(np.kron(pixels, np.ones((scale, scale), dtype=np.uint8)))


@pytest.mark.parametrize("name", list(qr.ENCODERS))
def test_each_encoder_makes_a_symbol_both_readers_decode(name: str) -> None:
    matrix = qr.encode(CODE, name)
    image = as_image(matrix)
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [CODE]
    assert [r.data.decode() for r in pyzbar.decode(image)] == [CODE]


@pytest.mark.parametrize("name", list(qr.ENCODERS))
def test_alphanumeric_mode_at_level_q_fits_version_10(name: str) -> None:
    # 204 characters need version 10 (57 modules) at Q in alphanumeric mode; byte mode would
    # need version 13 (69 modules). The size proves the mode.
    assert len(CODE) == 204
    assert qr.encode(CODE, name).shape == (57, 57)
    result = zxingcpp.read_barcodes(as_image(qr.encode(CODE, name)))[0]
    assert result.ec_level == "Q"


def test_unknown_encoder_is_a_clear_error() -> None:
    with pytest.raises(DependencyError, match="unknown QR encoder"):
        qr.encoder("nonsense")


def test_auto_falls_back_to_qrcode_without_the_zxing_wheel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A real ImportError: Python refuses to import a module set to None in sys.modules.
    monkeypatch.setitem(sys.modules, "zxingcpp", None)
    qr.encoder.cache_clear()
    try:
        with pytest.raises(ImportError):
            qr.ENCODERS["zxing-cpp"]()
        chosen = qr.encoder("auto")
        matrix = chosen(CODE)
        name = qr.encoder_name("auto")
    finally:
        qr.encoder.cache_clear()
    monkeypatch.undo()
    assert chosen.__qualname__.startswith("_qrcode_encoder")
    assert name == "qrcode", "the doctor reports the encoder in use"
    assert [r.text for r in zxingcpp.read_barcodes(as_image(matrix))] == [CODE]
