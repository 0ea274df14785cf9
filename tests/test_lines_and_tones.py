"""What paper and scanners do that is not a mark: straight lines through rows and columns of
boxes (a fold, a pen along a ruler, a scanner streak), and black-and-white scanners, whose
threshold the printed grey wedge measures."""

from __future__ import annotations

import random
from collections import Counter

import cv2
import numpy as np
import pytest
from conftest import PrintedPack
from test_marks import (
    GREYSCALE,
    H,
    Page,
    W,
    checkboxes,
    describe,
    draw_tick,
    form_pages,  # noqa: F401 - the fixture, used by name
    read,
    writing_areas,
)
from test_reading import false_confident
from test_reading import read as read_scanned

from downtime import simulate
from downtime.geometry import PX_PER_MM, TONE_WEDGE, box_px, tone_steps_mm
from downtime.model import FieldBox
from downtime.scan.marks import MarkSettings, page_quality, tone_wedge
from downtime.scan.marks.quality import faintest_kept
from downtime.vocab import MarkFlag, MarkState

Pages = dict[str, tuple[Page, list[FieldBox]]]


def row_of_boxes(fields: list[FieldBox]) -> list[FieldBox]:
    """The longest row of tick boxes on a page (same top edge)."""
    rows: dict[float, list[FieldBox]] = {}
    for f in checkboxes(fields):
        rows.setdefault(round(f.box_mm[1], 1), []).append(f)
    return max(rows.values(), key=len)


def column_of_boxes(fields: list[FieldBox]) -> list[FieldBox]:
    columns: dict[float, list[FieldBox]] = {}
    for f in checkboxes(fields):
        columns.setdefault(round(f.box_mm[0], 1), []).append(f)
    return max(columns.values(), key=len)


def line(page: Page, a: tuple[float, float], b: tuple[float, float], grey: int, mm: float) -> None:
    """A straight line from ``a`` to ``b`` (page mm), darkest wins like ink."""
    layer = np.full(page.shape, 255, np.uint8)
    pa = tuple(round(v * PX_PER_MM * 16) for v in a)
    pb = tuple(round(v * PX_PER_MM * 16) for v in b)
    cv2.line(layer, pa, pb, grey, max(1, round(mm * PX_PER_MM)), cv2.LINE_AA, 4)
    np.minimum(page, layer, out=page)


def through_row(page: Page, row: list[FieldBox], kind: str, at: float = 0.5) -> None:
    y = row[0].box_mm[1] + row[0].box_mm[3] * at
    if kind == "crease":  # a fold's shadow across the whole sheet
        line(page, (0.0, y), (W / PX_PER_MM, y), 170, 0.3)
    else:  # a ballpoint along a ruler, 10 mm past the row's ends
        first, last = row[0].box_mm[0] - 10, row[-1].box_mm[0] + row[-1].box_mm[2] + 10
        line(page, (first, y), (last, y + 0.05), 30, 0.45)


@pytest.mark.parametrize("kind", ["crease", "ruler"])
@pytest.mark.parametrize("degradation", ["clean", "scanner", "blur", "phone"])
def test_a_line_through_a_row_of_empty_boxes_marks_none_of_them(
    form_pages: Pages,  # noqa: F811
    kind: str,
    degradation: str,
) -> None:
    """Regression: a fold or a ruler stroke across a MAR row read every box it crossed as
    `marked` (a row of doses recorded as given)."""
    image, fields = form_pages["mar"]
    row = sorted(row_of_boxes(fields), key=lambda f: f.box_mm[0])
    assert len(row) >= 4
    page = image.copy()
    through_row(page, row, kind)
    readings = read(GREYSCALE[degradation](page, np.random.default_rng(3)), row)
    for f in row:
        r = readings[f.id]
        assert r.state == MarkState.EMPTY, describe(r)
        assert MarkFlag.LINE_THROUGH in r.flags, describe(r)


def test_a_scanner_streak_down_a_column_of_boxes_marks_none_of_them(form_pages: Pages) -> None:  # noqa: F811
    image, fields = form_pages["mar"]
    column = column_of_boxes(fields)
    assert len(column) >= 2
    page = image.copy()
    x = column[0].box_mm[0] + column[0].box_mm[2] * 0.4
    line(page, (x, 0.0), (x, H / PX_PER_MM), 90, 0.25)
    readings = read(GREYSCALE["scanner"](page, np.random.default_rng(4)), column)
    assert {readings[f.id].state for f in column} == {MarkState.EMPTY}


@pytest.mark.parametrize("kind", ["crease", "ruler"])
def test_ticks_under_a_line_are_still_marked(form_pages: Pages, kind: str) -> None:  # noqa: F811
    image, fields = form_pages["mar"]
    row = sorted(row_of_boxes(fields), key=lambda f: f.box_mm[0])
    page = image.copy()
    rng = np.random.default_rng(5)
    ticked = row[::2]
    for f in ticked:
        draw_tick(page, f.box_mm, rng)
    through_row(page, row, kind, at=0.55)
    readings = read(GREYSCALE["scanner"](page, rng), row)
    for f in row:
        r = readings[f.id]
        want = MarkState.MARKED if f in ticked else MarkState.EMPTY
        assert r.state == want, describe(r)


def test_a_line_through_empty_writing_areas_is_not_writing(form_pages: Pages) -> None:  # noqa: F811
    image, fields = form_pages["journal"]
    areas = [f for f in writing_areas(fields) if f.box_mm[3] < 12]
    target = areas[0]
    crossed = [f for f in areas if abs(f.box_mm[1] - target.box_mm[1]) < 0.5]
    page = image.copy()
    y = target.box_mm[1] + target.box_mm[3] * 0.5
    line(page, (0.0, y), (W / PX_PER_MM, y), 160, 0.3)
    readings = read(GREYSCALE["scanner"](page, np.random.default_rng(6)), crossed)
    assert {readings[f.id].state for f in crossed} == {MarkState.BLANK}, [
        describe(r) for r in readings.values()
    ]


def test_a_straight_stroke_that_stays_in_its_box_is_a_mark(form_pages: Pages) -> None:  # noqa: F811
    """A dash inside a box, or one running out of one side only, is ink a person put there."""
    image, fields = form_pages["mar"]
    row = sorted(row_of_boxes(fields), key=lambda f: f.box_mm[0])
    page = image.copy()
    dash, out_right = row[0], row[2]
    x, y, w, h = dash.box_mm
    line(page, (x + 0.8, y + h / 2), (x + w - 0.8, y + h / 2), 30, 0.45)
    x, y, w, h = out_right.box_mm
    line(page, (x + 1.0, y + h / 2), (x + w + 9.0, y + h / 2), 30, 0.45)
    readings = read(GREYSCALE["scanner"](page, np.random.default_rng(7)), [dash, out_right])
    assert readings[dash.id].state == MarkState.MARKED, describe(readings[dash.id])
    assert readings[out_right.id].state != MarkState.EMPTY, describe(readings[out_right.id])


def test_the_simulator_draws_lines_through_boxes_and_keeps_the_truth(
    example_packs: dict[str, PrintedPack],
) -> None:
    pack = example_packs["MED42"]
    index = next(i for i, p in enumerate(pack.manifest["pages"]) if p["form"] == "mar")
    entry = pack.manifest["pages"][index]
    image = simulate.render_page(pack.pdf, index, 200)
    filled, _ = simulate.fill_page(image, entry, 200, random.Random(1))
    lined, note = simulate.lines_through_boxes(filled, entry, 200, random.Random(2), count=3)
    again, _ = simulate.lines_through_boxes(filled, entry, 200, random.Random(2), count=3)
    assert np.array_equal(lined, again), "same seed, same lines"
    assert note.startswith("lines: ") and note.count(";") == 2
    assert (lined <= filled).all() and (lined < filled).sum() > 1000, "ink added, none taken"


# --------------------------------------------------------------------------------------------
# The grey wedge and black-and-white scanners


def test_a_faithful_rendering_keeps_every_step_of_the_wedge(form_pages: Pages) -> None:  # noqa: F811
    image, _ = form_pages["mar"]
    q = page_quality(image)
    wedge = tone_wedge(image, q.background, q.ink_ratio)
    assert wedge == pytest.approx(TONE_WEDGE, abs=0.03)
    assert not q.binarised and q.faintest_kept == 0.0


@pytest.mark.parametrize(
    ("wedge", "kept"),
    [
        ((0, 0, 0, 1, 1, 1, 1, 1), 0.16),
        ((0, 0, 0, 0.4, 1, 1, 1, 1), 0.20),  # the step the threshold cut through, dithered
        ((0, 0, 0, 0, 0, 0, 1, 1), 0.40),
        ((0, 0, 0, 0, 0, 0, 0, 0), 1.0),  # nothing kept: nothing to go by
        ((1, 1, 1, 1, 1, 1, 1, 1), 1.0),  # even the lightest step black: a stain
        ((0, 0, 1, 0, 1, 1, 1, 1), 1.0),  # a light step black after a darker one white
        ((0, 0, 0.4, 0.4, 1, 1, 1, 1), 1.0),  # two grey steps: not a threshold
    ],
)
def test_the_wedge_says_how_light_a_kept_mark_can_be(wedge: tuple[float, ...], kept: float) -> None:
    assert faintest_kept(tuple(float(v) for v in wedge), MarkSettings()) == kept


def black_and_white(page: Page, keeps: float) -> Page:
    """A scanner's black-and-white mode keeping ink from ``keeps`` of the paper's darkness."""
    soft = cv2.GaussianBlur(page, (0, 0), 0.6)
    return np.where(soft < 255 * (1 - keeps), 0, 255).astype(np.uint8)


def test_a_black_and_white_scan_that_kept_pencil_reads_empty_boxes_empty(
    form_pages: Pages,  # noqa: F811
) -> None:
    """Regression: on bitonal pages about one box in four was decided; the rest were
    `uncertain` because the single grey patch vanished at any threshold."""
    image, fields = form_pages["medication-orders"]
    boxes = checkboxes(fields)
    q = page_quality(black_and_white(image, 0.10))
    assert q.binarised and q.faintest_kept == pytest.approx(0.12)
    readings = read(black_and_white(image, 0.10), boxes)
    assert Counter(r.state for r in readings.values()) == {MarkState.EMPTY: len(boxes)}
    assert not any(MarkFlag.FAINT_PAGE in r.flags for r in readings.values())


@pytest.mark.parametrize("keeps", [0.19, 0.35])
def test_a_black_and_white_scan_that_may_have_dropped_pencil_decides_no_empty_box(
    form_pages: Pages,  # noqa: F811
    keeps: float,
) -> None:
    image, fields = form_pages["medication-orders"]
    boxes = checkboxes(fields)
    readings = read(black_and_white(image, keeps), boxes)
    states = {r.state for r in readings.values()}
    assert states == {MarkState.UNCERTAIN}
    assert all(MarkFlag.FAINT_PAGE in r.flags for r in readings.values())


@pytest.mark.parametrize("cover", [0, 255])
def test_a_wedge_stained_or_torn_away_vouches_for_nothing(form_pages: Pages, cover: int) -> None:  # noqa: F811
    image, fields = form_pages["medication-orders"]
    page = black_and_white(image, 0.10)
    x0, y0, _, _ = box_px(tone_steps_mm()[0])
    _, _, x2, y2 = box_px(tone_steps_mm()[-1])
    page[y0 - 8 : y2 + 40, x0 - 8 : x2 + 8] = cover
    q = page_quality(page)
    assert q.binarised and q.faintest_kept == 1.0
    readings = read(page, checkboxes(fields))
    assert {r.state for r in readings.values()} == {MarkState.UNCERTAIN}


@pytest.mark.parametrize(("kind", "trusted"), [("bitonal-200", True), ("bitonal-dark", False)])
def test_bitonal_scans_through_registration(
    example_packs: dict[str, PrintedPack], kind: str, trusted: bool
) -> None:
    """Pen and pencil on a black-and-white scan: where the wedge shows pencil kept, empty boxes
    are decided; where it shows pencil may have gone, none is; never a confident wrong box."""
    pack = example_packs["MED42"]
    index = next(i for i, p in enumerate(pack.manifest["pages"]) if p["form"] == "mar")
    readings, truth, quality = read_scanned(pack, index, kind, 4, ("pencil", "tick"))
    assert quality.binarised
    assert quality.wedge_vouches(MarkSettings()) is trusted
    assert false_confident(readings, truth) == []
    empty = [r for r in readings if truth[r.field_id] == "empty"]
    decided = [r for r in empty if r.state == MarkState.EMPTY]
    assert (len(decided) == len(empty)) if trusted else not decided
