"""The simulator fills pages with clean ground truth and degrades them as documented.

Pages of a real printed pack (the session's example packs) are rendered with PDFium, mostly at
150 dpi; orientation is checked by finding the registration marks (three solid, the
bottom-right one hollow) after turning each degraded image by its ``rotation``.
"""

from __future__ import annotations

import math
import random
from typing import Any

import cv2
import numpy as np
import pytest
import zxingcpp
from conftest import PrintedPack

from downtime import codes, simulate
from downtime.codes.keys import KeyStore
from downtime.errors import PageCodeError
from downtime.geometry import FIDUCIAL_MM, FIDUCIALS_MM, SERIAL_FOOTER_MM

DPI = 150
QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def read_codes(image: np.ndarray) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image, formats=QR)]


def pixel_box(box_mm: list[float], dpi: float) -> tuple[slice, slice]:
    px = dpi / 25.4
    x, y, w, h = box_mm
    rows = slice(math.floor(y * px), math.ceil((y + h) * px))
    cols = slice(math.floor(x * px), math.ceil((x + w) * px))
    return rows, cols


def marks(image: np.ndarray, dpi_x: float, dpi_y: float) -> list[tuple[float, float, bool]]:
    """Registration-mark candidates: (x, y) as a fraction of the image, and whether hollow."""
    if dpi_x != dpi_y:
        height = round(image.shape[0] * dpi_x / dpi_y)
        image = cv2.resize(image, (image.shape[1], height), interpolation=cv2.INTER_LINEAR)
    low, high = np.percentile(image, 0.5), np.percentile(image, 99.5)
    if high - low < 60:  # faint (show-through): smooth the noise before stretching
        image = cv2.GaussianBlur(image, (0, 0), 1.5)
    image = np.clip((image.astype(np.float32) - low) * 255 / max(1.0, high - low), 0, 255)
    image = image.astype(np.uint8)
    side = FIDUCIAL_MM * dpi_x / 25.4
    block = int(side * 3) | 1
    dark = cv2.adaptiveThreshold(
        image, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 25
    )
    count, _, stats, centroids = cv2.connectedComponentsWithStats(dark, connectivity=8)
    found = []
    for label in range(1, count):
        _, _, w, h, area = stats[label]
        if not (0.6 * side <= w <= 1.5 * side and 0.6 * side <= h <= 1.5 * side):
            continue
        if area / (w * h) < 0.6:
            continue
        cx, cy = centroids[label]
        hollow = dark[round(cy), round(cx)] == 0
        found.append((cx / image.shape[1], cy / image.shape[0], bool(hollow)))
    return found


def is_upright(image: np.ndarray, dpi_x: float, dpi_y: float) -> bool:
    """The mark nearest each corner of the image is solid, except bottom-right: hollow."""
    found = marks(image, dpi_x, dpi_y)
    if len(found) < 4:
        return False
    for corner_x, corner_y in ((0, 0), (1, 0), (0, 1), (1, 1)):
        _, _, hollow = min(found, key=lambda m: math.hypot(m[0] - corner_x, m[1] - corner_y))
        if hollow != (corner_x == corner_y == 1):
            return False
    return True


@pytest.fixture(scope="module")
def pack(example_packs: dict[str, PrintedPack]) -> PrintedPack:
    return example_packs["MED42"]


@pytest.fixture(scope="module")
def sample(pack: PrintedPack) -> dict[str, Any]:
    """One page of every form (and a blank admission form), as entries of a manifest."""
    pages: list[dict[str, Any]] = []
    seen: set[str] = set()
    for entry in pack.manifest["pages"]:
        if entry["form"] not in seen:
            seen.add(entry["form"])
            pages.append(entry)
    return {**pack.manifest, "pages": pages}


@pytest.fixture(scope="module")
def clean(pack: PrintedPack, sample: dict[str, Any]) -> dict[int, np.ndarray]:
    return {
        entry["pdf_page"]: simulate.render_page(pack.pdf, entry["pdf_page"] - 1, DPI)
        for entry in sample["pages"]
    }


@pytest.fixture(scope="module")
def medication_page(pack: PrintedPack) -> tuple[dict[str, Any], np.ndarray]:
    entry = next(p for p in pack.manifest["pages"] if p["form"] == "medication-orders")
    image = simulate.render_page(pack.pdf, entry["pdf_page"] - 1, DPI)
    filled, _ = simulate.fill_page(image, entry, DPI, random.Random(3))
    return entry, filled


# --- rendering and filling ----------------------------------------------------------------------


def test_render_page_is_grayscale_a4_at_dpi(clean: dict[int, np.ndarray]) -> None:
    image = clean[1]
    assert image.dtype == np.uint8
    assert image.ndim == 2
    height, width = image.shape
    assert abs(height - 297 / 25.4 * DPI) <= 1 and abs(width - 210 / 25.4 * DPI) <= 1
    assert image.max() == 255
    assert image.min() < 20


def test_fill_is_deterministic_per_seed(
    sample: dict[str, Any], clean: dict[int, np.ndarray]
) -> None:
    entry = sample["pages"][1]
    image = clean[entry["pdf_page"]]
    a, truth_a = simulate.fill_page(image, entry, DPI, random.Random(7))
    b, truth_b = simulate.fill_page(image, entry, DPI, random.Random(7))
    c, truth_c = simulate.fill_page(image, entry, DPI, random.Random(8))
    assert np.array_equal(a, b)
    assert truth_a == truth_b
    assert not np.array_equal(a, c)
    assert truth_a != truth_c
    assert np.array_equal(image, clean[entry["pdf_page"]]), "the input must not change"


def test_fill_pages_is_deterministic_and_matches_fill_page(
    pack: PrintedPack, sample: dict[str, Any]
) -> None:
    first = list(simulate.fill_pages(pack.pdf, sample, DPI, seed=11))
    again = list(simulate.fill_pages(pack.pdf, sample, DPI, seed=11))
    assert [e["pdf_page"] for e, _, _ in first] == [e["pdf_page"] for e in sample["pages"]]
    for (_, image_a, truth_a), (_, image_b, truth_b) in zip(first, again, strict=True):
        assert np.array_equal(image_a, image_b)
        assert truth_a == truth_b
    entry, image, truth = first[2]
    alone = simulate.fill_page(
        simulate.render_page(pack.pdf, entry["pdf_page"] - 1, DPI),
        entry,
        DPI,
        random.Random(f"11:{entry['pdf_page']}"),
    )
    assert np.array_equal(alone[0], image)
    assert alone[1] == truth


@pytest.mark.parametrize("seed", [1, 2])
def test_truth_matches_ink(sample: dict[str, Any], clean: dict[int, np.ndarray], seed: int) -> None:
    """Empty/blank fields are exactly as printed; marked/written ones gained ink; all ink is
    within about 1 mm of its own field."""
    px = DPI / 25.4
    states: set[str] = set()
    for entry in sample["pages"]:
        image = clean[entry["pdf_page"]]
        filled, truth = simulate.fill_page(
            image,
            entry,
            DPI,
            random.Random(seed),
            mark_rate=0.6,
            write_rate=0.6,
            styles=simulate.ALL_MARK_STYLES,
        )
        assert set(truth.fields) == {f["id"] for f in entry["fields"]}
        assert set(truth.styles) == truth.inked()
        near = np.zeros(image.shape, bool)
        for field in entry["fields"]:
            state = truth.fields[field["id"]]
            states.add(state)
            region = pixel_box(field["box_mm"], DPI)
            if state in ("empty", "blank"):
                assert np.array_equal(filled[region], image[region]), field["id"]
            else:
                added = (filled[region].astype(int) < image[region].astype(int) - 25).sum()
                assert added >= 4, f"{field['id']} is {state} but has {added} inked pixels"
            x, y, w, h = field["box_mm"]
            near[
                max(0, math.floor((y - 1.2) * px)) : math.ceil((y + h + 1.2) * px),
                max(0, math.floor((x - 1.2) * px)) : math.ceil((x + w + 1.2) * px),
            ] = True
        changed = filled != image
        assert not (changed & ~near).any(), "ink more than 1.2 mm from its field"
        assert (filled <= image).all(), "filling only ever darkens"
    assert states == {"marked", "empty", "written", "blank"}


def test_every_style_appears(sample: dict[str, Any], clean: dict[int, np.ndarray]) -> None:
    seen: set[str] = set()
    default: set[str] = set()
    for seed in range(3):
        for entry in sample["pages"]:
            image = clean[entry["pdf_page"]]
            rng = random.Random(seed)
            _, truth = simulate.fill_page(
                image, entry, DPI, rng, mark_rate=0.8, styles=simulate.ALL_MARK_STYLES
            )
            seen |= set(truth.styles.values())
            _, plain = simulate.fill_page(image, entry, DPI, random.Random(seed), mark_rate=0.8)
            default |= set(plain.styles.values())
    assert seen == set(simulate.ALL_MARK_STYLES) | set(simulate.WRITE_STYLES)
    assert default == set(simulate.MARK_STYLES) | set(simulate.WRITE_STYLES)


def test_rates_and_bad_arguments(sample: dict[str, Any], clean: dict[int, np.ndarray]) -> None:
    entry = sample["pages"][1]
    image = clean[entry["pdf_page"]]
    untouched, truth = simulate.fill_page(
        image, entry, DPI, random.Random(1), mark_rate=0, write_rate=0
    )
    assert np.array_equal(untouched, image)
    assert set(truth.fields.values()) == {"empty", "blank"}
    assert truth.styles == {}
    _, full = simulate.fill_page(image, entry, DPI, random.Random(1), mark_rate=1, write_rate=1)
    assert set(full.fields.values()) == {"marked", "written"}
    with pytest.raises(ValueError, match="mark styles"):
        simulate.fill_page(image, entry, DPI, random.Random(1), styles=("smudge",))
    with pytest.raises(ValueError, match="unknown kind"):
        bad = {"fields": [{"id": "x", "kind": "barcode", "box_mm": [20, 80, 5, 5]}]}
        simulate.fill_page(image, bad, DPI, random.Random(1))


def test_photocopy_filled_differently(sample: dict[str, Any], clean: dict[int, np.ndarray]) -> None:
    entry = sample["pages"][1]
    image = clean[entry["pdf_page"]]
    (a, truth_a), (b, truth_b) = simulate.photocopy_filled_differently(image, entry, DPI, 5)
    assert truth_a != truth_b
    assert not np.array_equal(a, b)
    assert read_codes(a) == read_codes(b) == read_codes(image)
    again = simulate.photocopy_filled_differently(image, entry, DPI, 5)
    assert np.array_equal(again[0][0], a) and np.array_equal(again[1][0], b)


# --- degrading ----------------------------------------------------------------------------------


# Degradations with per-pixel randomness (the others draw a few numbers: a blur's σ, a
# threshold, a direction… that another seed may happen to repeat closely enough).
NOISY = {
    "scan-200", "scan-300", "noise", "photocopy", "fax", "phone", "stain-code", "stain-corner",
    "duplex-back",
}  # fmt: skip


def expected_shape(kind: str, shape: tuple[int, ...], dpi: float) -> tuple[int, int] | None:
    h, w = shape
    if kind in BITONAL_DPI or kind in ("scan-200", "scan-300"):
        target = BITONAL_DPI.get(kind) or int(kind[-3:])
        return round(h * target / dpi), round(w * target / dpi)
    if kind == "fax":
        return round(h * 98 / dpi), round(w * 204 / dpi)
    if kind == "rot90":
        return w, h
    if kind == "phone":
        return None
    return h, w


BITONAL_DPI = {"bitonal-200": 200, "bitonal-300": 300, "bitonal-dark": 200}


def expected_dpi(kind: str, dpi: float) -> tuple[float, float] | None:
    if kind in BITONAL_DPI:
        return float(BITONAL_DPI[kind]), float(BITONAL_DPI[kind])
    return {
        "scan-200": (200.0, 200.0),
        "scan-300": (300.0, 300.0),
        "fax": (204.0, 98.0),
        "phone": None,
    }.get(kind, (dpi, dpi))


@pytest.mark.parametrize("kind", simulate.DEGRADATIONS)
def test_degradation_shape_dpi_rotation(
    kind: str, medication_page: tuple[dict[str, Any], np.ndarray]
) -> None:
    _, image = medication_page
    rotations = set()
    for seed in range(2 if kind != "rot90" else 8):
        result = simulate.degrade(image, DPI, kind, np.random.default_rng(seed))
        again = simulate.degrade(image, DPI, kind, np.random.default_rng(seed))
        assert np.array_equal(result.image, again.image), "same seed, same image"
        assert result.image.dtype == np.uint8 and result.image.ndim == 2
        assert result.image.flags.c_contiguous
        assert result.note.startswith(kind)
        shape = expected_shape(kind, image.shape, DPI)
        if shape is not None:
            assert result.image.shape == shape
        dpi = expected_dpi(kind, DPI)
        if dpi is None:  # phone: a frame larger than the page, at 150-200 dpi
            assert 150 <= result.dpi_x == result.dpi_y <= 200
            assert result.image.shape[0] > 297 / 25.4 * result.dpi_y
        else:
            assert (result.dpi_x, result.dpi_y) == dpi
        rotations.add(result.rotation)
        turned = np.rot90(result.image, k=-(result.rotation // 90))
        assert np.array_equal(simulate.upright(result), turned)
        if kind == "duplex-back":  # faint and mirrored: upright once flipped back
            assert is_upright(np.fliplr(turned), result.dpi_x, result.dpi_y)
            assert not is_upright(turned, result.dpi_x, result.dpi_y)
        elif kind == "marks-gone":  # every mark whited out: only the codes can place the page
            px = DPI / 25.4
            for x, y, w, h in FIDUCIALS_MM.values():
                where = (slice(round(y * px), round((y + h) * px)),
                         slice(round(x * px), round((x + w) * px)))  # fmt: skip
                assert image[where].min() < 100 and turned[where].min() == 255
        else:
            dpi_x, dpi_y = (
                (result.dpi_y, result.dpi_x)
                if result.rotation in (90, 270)
                else (result.dpi_x, result.dpi_y)
            )
            assert is_upright(turned, dpi_x, dpi_y), result.note
        if result.rotation:
            assert not is_upright(result.image, result.dpi_x, result.dpi_y)
    if kind in NOISY:
        different = simulate.degrade(image, DPI, kind, np.random.default_rng(99))
        assert not np.array_equal(different.image, again.image), "another seed, another image"
    expected_rotations = {"upside-down": {180}, "rot90": {90, 270}}.get(kind, {0})
    assert rotations == expected_rotations


def test_degrade_takes_random_random_and_rejects_unknown_kinds(
    medication_page: tuple[dict[str, Any], np.ndarray],
) -> None:
    _, image = medication_page
    a = simulate.degrade(image, DPI, "noise", random.Random(4))
    b = simulate.degrade(image, DPI, "noise", random.Random(4))
    assert np.array_equal(a.image, b.image)
    with pytest.raises(ValueError, match="unknown degradation"):
        simulate.degrade(image, DPI, "coffee", random.Random(4))


def test_chains_compose(medication_page: tuple[dict[str, Any], np.ndarray]) -> None:
    _, image = medication_page
    g = np.random.default_rng(1)
    skewed = simulate.then(simulate.degrade(image, DPI, "skew", g), "jpeg", g)
    assert skewed.note.startswith("skew") and "jpeg" in skewed.note
    assert skewed.image.shape == image.shape
    turned = simulate.then(
        simulate.then(simulate.degrade(image, DPI, "fax", g), "rot90", g), "upside-down", g
    )
    assert turned.rotation in (90, 270)
    assert (turned.dpi_x, turned.dpi_y) == (98.0, 204.0)
    upright = simulate.upright(turned)
    assert upright.shape == (round(image.shape[0] * 98 / DPI), round(image.shape[1] * 204 / DPI))
    assert is_upright(upright, 204, 98)
    phone = simulate.then(
        simulate.then(simulate.degrade(image, DPI, "scan-300", g), "phone", g), "rot90", g
    )
    assert is_upright(simulate.upright(phone), phone.dpi_x, phone.dpi_y)


def test_forged_codes_read_but_do_not_verify(
    pack: PrintedPack, medication_page: tuple[dict[str, Any], np.ndarray]
) -> None:
    _, image = medication_page
    keys = KeyStore.open(pack.home / "keys").verification_keys()
    original = read_codes(image)
    assert len(original) == 2
    codes.decode(original[0], keys)  # the printed code verifies
    for seed in range(3):
        forged = simulate.degrade(image, DPI, "forged", np.random.default_rng(seed))
        texts = read_codes(forged.image)
        assert len(texts) == 2 and texts[0] == texts[1], forged.note
        assert texts[0] != original[0]
        assert texts[0].startswith("DK1:")
        with pytest.raises(PageCodeError) as caught:
            codes.decode(texts[0], keys)
        assert caught.value.reason == "bad-signature"


def test_stain_code_leaves_exactly_one_code(
    medication_page: tuple[dict[str, Any], np.ndarray],
) -> None:
    _, image = medication_page
    original = read_codes(image)[0]
    stained = set()
    for seed in range(6):
        result = simulate.degrade(image, DPI, "stain-code", np.random.default_rng(seed))
        assert read_codes(result.image) == [original], result.note
        stained.add(result.note.split(" over code ")[1][0])
    assert stained == {"1", "2"}, "either code may be the stained one"


def test_stain_corner_takes_one_code_and_the_mark_beside_it_and_nothing_else(
    medication_page: tuple[dict[str, Any], np.ndarray],
) -> None:
    _, image = medication_page
    original = read_codes(image)[0]
    beside = {"1": "top-right", "2": "bottom-left"}
    seen = set()
    for seed in range(12):
        result = simulate.degrade(image, DPI, "stain-corner", np.random.default_rng(seed))
        assert read_codes(result.image) == [original], result.note
        which = result.note.split(" over code ")[1][0]
        how = result.note.removeprefix("stain-corner: ").split(" (")[0]
        seen.add((which, how))
        for name, box in FIDUCIALS_MM.items():
            mark = pixel_box(list(box), DPI)
            if name == beside[which]:  # covered: no longer a black square on white paper
                assert not np.array_equal(result.image[mark], image[mark]), result.note
                assert result.image[mark].std() < 40, result.note
            else:
                assert np.array_equal(result.image[mark], image[mark]), result.note
        serial = pixel_box(list(SERIAL_FOOTER_MM), DPI)
        assert np.array_equal(result.image[serial], image[serial]), result.note
    assert {w for w, _ in seen} == {"1", "2"}, "either corner may be the stained one"
    assert {h for _, h in seen} == {"stain", "torn white", "torn dark"}


def test_codes_destroyed_leaves_none_and_keeps_the_serial(
    medication_page: tuple[dict[str, Any], np.ndarray],
) -> None:
    _, image = medication_page
    serial = pixel_box(list(SERIAL_FOOTER_MM), DPI)
    for seed in range(4):
        result = simulate.degrade(image, DPI, "codes-destroyed", np.random.default_rng(seed))
        assert read_codes(result.image) == [], result.note
        assert np.array_equal(result.image[serial], image[serial])


def test_duplex_back_is_mostly_white(medication_page: tuple[dict[str, Any], np.ndarray]) -> None:
    _, image = medication_page
    back = simulate.degrade(image, DPI, "duplex-back", np.random.default_rng(0)).image
    assert back.mean() > 235
    assert (back > 200).mean() > 0.999
    assert back.min() > 190
