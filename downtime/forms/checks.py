"""Geometry checks of a form definition: fields inside the body area, none overlapping."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from downtime.errors import Problem
from downtime.forms.definition import FormDef
from downtime.forms.layout import ALLERGY_BANNER_MM, definition_pages
from downtime.geometry import BODY_SIZE_MM

MAX_PROBLEMS = 40


def check_geometry(form: FormDef) -> list[Problem]:
    """Every field inside the body area, no two fields overlapping, ids unique on a page.

    Checked on the fullest pages the definition can produce (all rows, the most cells).
    """
    where = Path(form.path).name or form.id
    top = ALLERGY_BANNER_MM if form.show_allergies else 0.0
    problems: list[Problem] = []
    for page in definition_pages(form):
        for what in _page_geometry(page, top):
            problem = Problem(where, what)
            if problem not in problems:
                problems.append(problem)
        if len(problems) > MAX_PROBLEMS:
            return [*problems[:MAX_PROBLEMS], Problem(where, "… and more; fix these first")]
    return problems


def _page_geometry(
    fields: list[tuple[str, tuple[float, float, float, float]]], top: float
) -> Iterable[str]:
    bw, bh = BODY_SIZE_MM
    seen: dict[str, tuple[float, float, float, float]] = {}
    for fid, (x, y, w, h) in fields:
        if fid in seen:
            yield f"field id '{fid}' occurs twice on a page"
        seen[fid] = (x, y, w, h)
        if x < -1e-6 or y < top - 1e-6 or x + w > bw + 1e-6 or y + h > bh + 1e-6:
            yield (
                f"field '{fid}' at [{x:g}, {y:g}, {w:g}, {h:g}] mm reaches outside the body "
                f"area (0–{bw:g} × {top:g}–{bh:g} mm; the allergy banner takes the top "
                f"{top:g} mm)"
                if top
                else f"field '{fid}' at [{x:g}, {y:g}, {w:g}, {h:g}] mm reaches outside the "
                f"body area (0–{bw:g} × 0–{bh:g} mm)"
            )
    boxes = sorted(seen.items(), key=lambda kv: kv[1][1])
    for i, (a, (ax, ay, aw, ah)) in enumerate(boxes):
        for b, (bx, by, bw_, bh_) in boxes[i + 1 :]:
            if by >= ay + ah:
                break
            if ax < bx + bw_ and bx < ax + aw and ay < by + bh_:
                yield f"fields '{a}' and '{b}' overlap"
