"""QR encoding: the only module that imports a QR encoder.

The page code is encoded once per page, as a 1-pixel-per-module bitmap without quiet zone,
and drawn twice. zxing-cpp's C++ encoder is used where its wheel is installed (about 0.5 ms a
symbol); the pure-Python ``qrcode`` package is the fallback (15–20 ms, same symbol standard).
Both use error correction level Q and, for ``DK1:`` text, the alphanumeric mode.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import numpy.typing as npt

from downtime.errors import DependencyError

Matrix = npt.NDArray[np.bool_]  # True = dark module; square, no quiet zone


def _zxing_encoder() -> Callable[[str], Matrix]:
    import zxingcpp

    def encode(text: str) -> Matrix:
        symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="Q")
        image = np.asarray(symbol.to_image(scale=1, add_quiet_zones=False))
        return np.asarray(image < 128)

    return encode


def _qrcode_encoder() -> Callable[[str], Matrix]:
    import qrcode
    import qrcode.constants

    def encode(text: str) -> Matrix:
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_Q, border=0)
        code.add_data(text, optimize=0)
        code.make(fit=True)
        return np.array(code.get_matrix(), dtype=bool)

    return encode


ENCODERS: dict[str, Callable[[], Callable[[str], Matrix]]] = {
    "zxing-cpp": _zxing_encoder,
    "qrcode": _qrcode_encoder,
}


@cache
def encoder(name: str = "auto") -> Callable[[str], Matrix]:
    """The named encoder, or for ``auto`` the fastest one that imports."""
    return _chosen(name)[1]


def encoder_name(name: str = "auto") -> str:
    """Which encoder :func:`encoder` gives for ``name`` (``auto``: the one that imports first);
    :class:`DependencyError` as :func:`encoder` raises it."""
    return _chosen(name)[0]


def _chosen(name: str) -> tuple[str, Callable[[str], Matrix]]:
    names = list(ENCODERS) if name == "auto" else [name]
    errors = []
    for candidate in names:
        if candidate not in ENCODERS:
            raise DependencyError(f"unknown QR encoder '{candidate}'")
        try:
            return candidate, ENCODERS[candidate]()
        except ImportError as e:
            errors.append(f"{candidate}: {e}")
    raise DependencyError(
        "no QR encoder is available (" + "; ".join(errors) + ")",
        hint="install the project's dependencies: pip install zxing-cpp qrcode",
    )


def encode(text: str, name: str = "auto") -> Matrix:
    return encoder(name)(text)
