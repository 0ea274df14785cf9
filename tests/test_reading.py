"""Reading marks on pages degraded like the world degrades them (downtime.simulate), through the
real registration: what is not clearly marked or clearly empty is uncertain, never a guess."""

from __future__ import annotations

import random

import pytest
from conftest import PrintedPack

from downtime import simulate
from downtime.model import FieldBox
from downtime.scan import decode, marks, register
from downtime.scan.page import square_pixels

DPI = 200


def read(
    pack: PrintedPack, index: int, kind: str, seed: int, styles: tuple[str, ...]
) -> tuple[list[marks.FieldReading], dict[str, str], marks.PageQuality]:
    entry = pack.manifest["pages"][index]
    image = simulate.render_page(pack.pdf, index, DPI)
    filled, truth = simulate.fill_page(image, entry, DPI, random.Random(seed), styles=styles)
    degraded = simulate.degrade(filled, DPI, kind, random.Random(seed))
    gray, dpi = square_pixels(degraded.image, (degraded.dpi_x, degraded.dpi_y))
    symbols, _ = decode.find_page_codes(gray, px_per_mm=decode.estimate_px_per_mm(gray.shape, dpi))
    reg = register.register_with_codes(gray, symbols)
    assert reg is not None, kind
    page = register.warp(gray, reg)
    quality = marks.page_quality(page)
    fields = [FieldBox(f["id"], f["kind"], tuple(f["box_mm"])) for f in entry["fields"]]
    return marks.read_fields(page, fields, quality=quality), truth.fields, quality


def false_confident(readings: list[marks.FieldReading], truth: dict[str, str]) -> list[str]:
    opposite = {"marked": "empty", "empty": "marked", "written": "blank", "blank": "written"}
    return [r.field_id for r in readings if r.state == opposite[truth[r.field_id]]]


@pytest.mark.parametrize("kind", ["photocopy", "fax"])
def test_a_copier_or_fax_that_erases_pencil_leaves_the_boxes_uncertain_not_empty(
    example_packs: dict[str, PrintedPack], kind: str
) -> None:
    """Regression: light pencil erased by a copier's or fax's threshold read as clearly empty.
    The printed grey wedge loses its grey steps with it, and tells."""
    pack = example_packs["MED42"]
    readings, truth, quality = read(pack, 3, kind, 5, ("pencil",))
    assert quality.binarised, f"tone patch {quality.tone_patch:.2f}"
    assert false_confident(readings, truth) == []
    assert any(truth[r.field_id] == "marked" and r.state == "uncertain" for r in readings)


@pytest.mark.parametrize("kind", ["scan-200", "blur", "jpeg", "low-contrast", "phone"])
def test_a_faithful_scan_keeps_its_grey_wedge(
    example_packs: dict[str, PrintedPack], kind: str
) -> None:
    _, _, quality = read(example_packs["MED42"], 4, kind, 2, simulate.MARK_STYLES)
    assert not quality.binarised
    assert 0.15 < quality.tone_patch < 0.45
    assert sum(0.02 < step < 0.6 for step in quality.tone_wedge) >= 5


def test_specks_of_a_noisy_scan_do_not_make_empty_boxes_uncertain(
    example_packs: dict[str, PrintedPack],
) -> None:
    pack = example_packs["KIR7"]
    readings, truth, quality = read(pack, 3, "noise", 8, simulate.MARK_STYLES)
    boxes = [r for r in readings if r.kind == "checkbox"]
    empty = [r for r in boxes if truth[r.field_id] == "empty"]
    assert quality.noise > marks.MarkSettings().despeckle_noise
    assert false_confident(readings, truth) == []
    assert sum(r.state == "empty" for r in empty) >= 0.98 * len(empty)


def test_every_mark_style_on_a_clean_scan_is_read(example_packs: dict[str, PrintedPack]) -> None:
    pack = example_packs["MED42"]
    wrong, uncertain, total = 0, 0, 0
    for index in (3, 4, 5):
        readings, truth, _ = read(pack, index, "scan-200", index, simulate.ALL_MARK_STYLES)
        wrong += len(false_confident(readings, truth))
        uncertain += sum(r.state == "uncertain" for r in readings)
        total += len(readings)
    assert wrong == 0
    assert uncertain <= 0.02 * total
