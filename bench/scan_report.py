"""The report: the Markdown tables and paragraphs of the "Scan" section of BENCHMARKS.md, and
the targets a run missed."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Sequence

from scan_cases import (
    BOX_TARGET,
    FAX_BATCH,
    ID_TARGET,
    MOST_FALSE_CONFIDENT,
    PDF_BATCH,
    PDF_QUALITY,
    PHONE_DPI,
    PHONE_QUALITY,
    SPEED_TARGET,
    Case,
)
from scan_judge import Tally, expected_status, rates
from scan_runs import STAGES, SpeedRow

from downtime.scan import ocr


def intro_lines(args: argparse.Namespace, printing: int, rounds: int) -> list[str]:
    """What the run printed and how each class's pages were made and arrive."""
    per_class = args.pages_per_class
    tesseract = "installed" if ocr.tesseract() else "not installed"
    return [
        f"{printing} patient and admission pages per printing of the example census "
        f"({rounds} printing(s)); {per_class} distinct pages per class, fill seed "
        f"{args.seed}; each class scanned with {args.scan_jobs} job(s) into a fresh copy "
        f"of the data folder. Tesseract {tesseract}.",
        "",
        "### Accuracy per degradation class",
        "",
        "Pages rendered at 200 dpi (classes with scan-200 / scan-300: at 300 dpi, then "
        "resampled by the degradation), filled with `simulate.fill_page` (tick rate 35 %, "
        "writing rate 50 %; default styles, or as named), degraded, and written as they "
        f"arrive: scanner PDFs of {PDF_BATCH} pages, one JPEG (quality {PDF_QUALITY}) "
        "each; PNG with the dpi for the image-quality classes (the degradation is what is "
        f"measured); fax TIFFs of {FAX_BATCH} pages, G4, 204 × 98 dpi; phone photos as "
        f"JPEG (quality {PHONE_QUALITY}) claiming {PHONE_DPI} dpi, as phones do. "
        "*identified*: the right page uid; *misidentified*: a page uid that is not this "
        "sheet's (must be 0; for `forged` and `duplex-back` any page uid at all; for "
        "`code-pasted` and `name-crossed`, whose sheets show another identity than their "
        "codes, any page filed: set aside, they may name the page their codes name). Field "
        "measures are over the fields of identified pages; *scanner-class* totals are "
        "the classes with target `scanner`. `photocopy` and `fax` pages went through a "
        "threshold that erases light pencil; the printed grey wedge shows it, so on those "
        "pages no ink-free box or area is read as clearly empty: they are `uncertain` by "
        "design (identification still counts; false-confident must be 0). `bitonal-*` pages "
        "come from a black-and-white document scanner (G4 TIFF): where the wedge shows that "
        "ink as light as the lightest pencil was kept, empty boxes are decided (target "
        "`bitonal`: at least 80 % of tick boxes decided, false-confident at most 0.05 %); "
        "`bitonal-dark` is one set to a mid-grey threshold that drops light pencil. `lines` "
        "pages carry two straight lines each (a fold, a pen along a ruler, a scanner streak) "
        "through rows or columns of boxes (`simulate.lines_through_boxes`), which are not "
        "marks.",
        "",
    ]


def fields_lines(tallies: Sequence[Tally], summed: Sequence[Tally]) -> list[str]:
    """The accuracy tables (pages, tick boxes, writing areas) and what went wrong, by class."""
    out = pages_table(tallies)
    out += [
        "",
        "Tick boxes (*accuracy*: certain and right / all; *sensitivity*: marked read "
        "marked / truly marked; *specificity*: empty read empty / truly empty; "
        "*false-confident*: marked read empty or empty read marked / all):",
        "",
        *fields_table([*tallies, *summed], "boxes"),
        "",
        "Writing areas (the same measures with written / blank):",
        "",
        *fields_table([*tallies, *summed], "areas"),
        "",
    ]
    corrected = [t for t in tallies if t.corrected["boxes"]]
    for t in corrected:
        c = t.corrected
        out += [
            f"Corrected boxes ({t.case.name}): {c['boxes']}, read marked "
            f"{c['read marked']}, flagged `corrected` {c['flagged']}.",
            "",
        ]
    wrong = [f"- {t.case.name}: {w}" for t in tallies for w in t.wrong]
    if wrong:
        out += ["**Misidentified pages:**", "", *wrong, ""]
    shifted = [f"- {t.case.name}: {w}" for t in tallies for w in t.misregistered]
    if shifted:
        out += [
            "*misregistered?*: identified pages where at least a quarter of the fields "
            "read `no-outline` (the printed boxes are not where the registration puts "
            "them):",
            "",
            *shifted,
            "",
        ]
    lines = misread_lines(tallies, 5)
    if lines:
        out += ["Misread fields, by class:", "", *lines, ""]
    return out


def naive_lines(tallies: Sequence[Tally], zbar: bool, scan_jobs: int) -> list[str]:
    """The naive baseline's section: zbarimg against the whole scan run, class by class."""
    out = ["### Naive baseline: zbarimg on every whole page", ""]
    if not zbar:
        return [*out, "zbarimg is not installed (Debian `zbar-tools`): baseline skipped.", ""]
    return [
        *out,
        f"`zbarimg --xml -Sdisable -Sqrcode.enable` over one file per page "
        f"(the same image bytes), {scan_jobs} processes; *naive wrong page*: "
        "a page whose code names another page, or a forged, duplex-back, code-pasted or "
        "name-crossed sheet with a code (what a scanner trusting the code text would "
        "file). *ours*: "
        "the whole scan run (identification, registration, reading, storing, "
        f"ledger) with {scan_jobs} jobs.",
        "",
        *naive_table(tallies, scan_jobs),
        "",
    ]


def targets_lines(
    tallies: Sequence[Tally], summed: Sequence[Tally], rows: Sequence[SpeedRow]
) -> list[str]:
    """The "Targets missed" section: every class and speed run that misses a target."""
    misses = [(t.case.name, m) for t in [*tallies, *summed] for m in meets(t)]
    for r in rows:
        if r.misidentified:
            what = f"speed {r.dpi} dpi, {r.jobs} job(s)"
            misses.append((what, f"{r.misidentified} misidentified (must be 0)"))
        goal = SPEED_TARGET.get((r.dpi, r.jobs))
        if goal is not None and r.pages / r.seconds < goal:
            what = f"speed {r.dpi} dpi, {r.jobs} job(s)"
            misses.append((what, f"{r.pages / r.seconds:.1f} < {goal} pages/s"))
    items = [f"- {name}: {m}" for name, m in misses] or ["None."]
    return ["### Targets missed", "", *items, ""]


def pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}"


def ratio(n: int, d: int) -> str:
    return f"{n}/{d}" if d else "—"


def meets(t: Tally) -> list[str]:
    """The targets this class misses."""
    misses = []
    if t.misidentified:
        misses.append(f"{t.misidentified} misidentified (must be 0)")
    if t.case.target is None:
        for counts, what, yes, no in (
            (t.boxes, "tick-box", "marked", "empty"),
            (t.areas, "writing-area", "written", "blank"),
        ):
            r = rates(counts, yes, no)
            if r.total and r.false_confident > MOST_FALSE_CONFIDENT:
                misses.append(
                    f"{what} false-confident {pct(r.false_confident, 3)} % (no target for "
                    "this class; shown because a confident wrong reading is never safe)"
                )
        return misses
    if t.id_rate < ID_TARGET[t.case.target]:
        goal = ID_TARGET[t.case.target]
        misses.append(f"identification {pct(t.id_rate, 3)} % < {pct(goal, 1)} %")
    accuracy, most_wrong = BOX_TARGET[t.case.target]
    box = rates(t.boxes, "marked", "empty")
    if box.total and box.accuracy < accuracy:
        misses.append(f"tick-box accuracy {pct(box.accuracy, 3)} % < {pct(accuracy, 1)} %")
    if box.total and most_wrong is not None and box.false_confident > most_wrong:
        misses.append(
            f"tick-box false-confident {pct(box.false_confident, 3)} % > {pct(most_wrong)} %"
        )
    return misses


def pages_table(tallies: Sequence[Tally]) -> list[str]:
    rows = [
        "| class | arrives as | target | pages | as expected | identified | **misidentified** "
        "| quarantined (reasons) | blank | via serial | rotation right | misregistered? "
        "| s/page (wall) |",
        "|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for t in tallies:
        c = t.case
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(t.quarantined.items()))
        quarantined = sum(t.quarantined.values())
        expect = expected_status(c)
        rows.append(
            f"| {c.name} | {ARRIVAL[c.arrival]} | {c.target or '—'} | {t.pages} | "
            f"{t.as_expected} ({expect}) | {t.identified} ({pct(t.id_rate, 1)} %) | "
            f"**{t.misidentified}** | {quarantined}{f' ({reasons})' if reasons else ''} | "
            f"{t.blank} | {t.via_serial} | {ratio(t.rotation_ok, t.identified)} | "
            f"{len(t.misregistered)} | "
            f"{t.seconds / max(t.pages, 1):.3f} |"
        )
    return rows


ARRIVAL = {
    "pdf": "PDF, JPEG q85",
    "png": "PNG + dpi",
    "fax": "TIFF G4 204×98",
    "g4": "TIFF G4, B/W scanner",
    "jpeg": "JPEG, 72 dpi",
}


def fields_table(tallies: Sequence[Tally], which: str) -> list[str]:
    yes, no = ("marked", "empty") if which == "boxes" else ("written", "blank")
    rows = [
        f"| class | {which} | accuracy % | sensitivity % | specificity % | uncertain % "
        "| **false-confident %** | false-confident |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in tallies:
        counts = t.boxes if which == "boxes" else t.areas
        r = rates(counts, yes, no)
        if not r.total:
            continue
        wrong = f"{counts[yes, no]} {yes}→{no}, {counts[no, yes]} {no}→{yes}"
        rows.append(
            f"| {t.case.name} | {r.total} | {pct(r.accuracy)} | {pct(r.sensitivity)} | "
            f"{pct(r.specificity)} | {pct(r.uncertain)} | **{pct(r.false_confident, 3)}** | "
            f"{wrong} |"
        )
    return rows


def totals_row(tallies: Iterable[Tally], name: str) -> Tally | None:
    chosen = list(tallies)
    if not chosen:
        return None
    total = Tally(Case(name, (), "pdf", target=chosen[0].case.target))
    for t in chosen:
        total.pages += t.pages
        total.identified += t.identified
        total.misidentified += t.misidentified
        total.boxes.update(t.boxes)
        total.areas.update(t.areas)
    return total


def misread_lines(tallies: Sequence[Tally], limit: int) -> list[str]:
    """Every false-confident reading (up to ``limit`` per class), and what the uncertain ones
    were, by truth and style."""
    lines = []
    for t in tallies:
        confident = [m for m in t.misreads if m.read in ("marked", "empty", "written", "blank")]
        unsure = Counter(
            f"{m.truth}/{m.style}{' [' + ' '.join(m.flags) + ']' if m.flags else ''}"
            for m in t.misreads
            if m.read == "uncertain"
        )
        if not confident and not unsure:
            continue
        parts = ", ".join(f"{k} {v}" for k, v in unsure.most_common())
        lines.append(f"- **{t.case.name}**: uncertain by truth/style [flags]: {parts or 'none'}")
        for m in confident[:limit]:
            lines.append(
                f"  - false-confident: {m.file} p{m.page} {m.form} `{m.field_id}` "
                f"{m.truth} ({m.style}) read {m.read} (score {m.score:.3f}"
                f"{', ' + ' '.join(m.flags) if m.flags else ''}) — {m.note}"
            )
        if len(confident) > limit:
            lines.append(f"  - … and {len(confident) - limit} more")
    return lines


def naive_table(tallies: Sequence[Tally], jobs: int) -> list[str]:
    rows = [
        "| class | pages | zbarimg: pages with a DK1 code | naive wrong page | zbarimg s/page "
        "| ours: as expected | ours s/page | zbarimg time / ours |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in tallies:
        if t.zbar_found is None or t.zbar_seconds is None:
            continue
        ours = t.seconds / max(t.pages, 1)
        theirs = t.zbar_seconds / max(t.pages, 1)
        rows.append(
            f"| {t.case.name} | {t.pages} | {t.zbar_found} ({pct(t.zbar_found / t.pages, 1)} %)"
            f" | {t.zbar_wrong} | {theirs:.3f} | {t.as_expected} "
            f"({pct(t.as_expected / t.pages, 1)} %) | {ours:.3f} | {theirs / ours:.2f} |"
        )
    return rows


def speed_section(
    rows: list[SpeedRow], stage: dict[int, dict[str, float]], args: argparse.Namespace
) -> list[str]:
    table = [
        "### Speed",
        "",
        f"{args.speed_pages} filled pages (scan-200 / scan-300 from a 300 dpi rendering) in "
        f"scanner PDFs of {PDF_BATCH} pages, one JPEG (quality {PDF_QUALITY}) per page; the "
        "whole `scan_files` run (decoding, identification, registration, reading, storing "
        "originals and registered images, ledger). Target ≥ 30 pages/s at 200 dpi with 2 "
        "jobs, ≥ 15 with one.",
        "",
        "| dpi | jobs | pages | identified | misidentified | MB/page | seconds | pages/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        table.append(
            f"| {r.dpi} | {r.jobs} | {r.pages} | {r.identified} | {r.misidentified} | "
            f"{r.mb_per_page:.2f} | "
            f"{r.seconds:.1f} | **{r.pages / r.seconds:.1f}** |"
        )
    dpis = sorted(stage)
    table += [
        "",
        f"Per stage, in-process, one job, mean of {args.stage_pages} pages (ms/page; the "
        "rest of the whole run per page is the ledger, storing originals and the worker "
        "pool):",
        "",
        "| stage | " + " | ".join(f"{d} dpi" for d in dpis) + " |",
        "|---|" + "---:|" * len(dpis),
    ]
    for name in STAGES:
        table.append(f"| {name} | " + " | ".join(f"{stage[d][name]:.1f}" for d in dpis) + " |")
    table.append("| **sum** | " + " | ".join(f"{sum(stage[d].values()):.1f}" for d in dpis) + " |")
    whole = {r.dpi: r.seconds / r.pages * 1000 for r in rows if r.jobs == 1}
    if whole:
        table.append(
            "| whole run, 1 job | "
            + " | ".join(f"{whole[d]:.1f}" if d in whole else "—" for d in dpis)
            + " |"
        )
    table.append("")
    return table
