"""What a degradation gives back (:class:`Degraded`) and the shape of one (:data:`Degradation`):
shared by the modules that degrade pages and by the registry in :mod:`downtime.simulate.degrade`."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from downtime.simulate.draw import Image

Rng = np.random.Generator | random.Random


@dataclass(frozen=True, eq=False)
class Degraded:
    """A degraded page image; see :mod:`downtime.simulate` for ``dpi_x``, ``dpi_y`` and
    ``rotation`` (the clockwise turn that makes the page upright again)."""

    image: Image
    dpi_x: float
    dpi_y: float
    rotation: int
    note: str

    def followed_by(self, more: Degraded) -> Degraded:
        """This result degraded further into ``more``: rotations add up, notes are joined."""
        return Degraded(
            more.image,
            more.dpi_x,
            more.dpi_y,
            (self.rotation + more.rotation) % 360,
            f"{self.note}; {more.note}",
        )


def upright(degraded: Degraded) -> Image:
    """The degraded image turned by its ``rotation`` (clockwise), so the page is upright."""
    return np.ascontiguousarray(np.rot90(degraded.image, -(degraded.rotation // 90)))


Degradation = Callable[[Image, float, float, np.random.Generator], Degraded]
