"""Judging what the scanner recorded against the truth of every page and field, and the naive
baseline: zbarimg on every whole page, trusting whatever code it reads."""

from __future__ import annotations

import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scan_cases import Case, Made

from downtime import codes
from downtime import simulate as sim
from downtime.codes import base45
from downtime.scan import ocr
from downtime.scan.run import PageRecord
from downtime.vocab import MarkFlag, MarkState


@dataclass
class Misread:
    case: str
    file: str
    page: int
    form: str
    field_id: str
    truth: str
    style: str
    read: str
    score: float
    flags: tuple[str, ...]
    note: str


@dataclass
class Tally:
    case: Case
    pages: int = 0
    as_expected: int = 0
    identified: int = 0  # the right page uid
    misidentified: int = 0  # a page uid, but the wrong one (or a page that must not be one)
    via_serial: int = 0
    blank: int = 0
    rotation_ok: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)
    boxes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (truth, read)
    areas: Counter[tuple[str, str]] = field(default_factory=Counter)
    corrected: Counter[str] = field(default_factory=Counter)
    misreads: list[Misread] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    misregistered: list[str] = field(default_factory=list)  # ≥ 1/4 of fields without outline
    seconds: float = 0.0
    zbar_found: int | None = None
    zbar_wrong: int | None = None
    zbar_seconds: float | None = None

    @property
    def id_rate(self) -> float:
        return self.identified / self.pages if self.pages else 0.0


def expected_status(case: Case) -> str:
    if case.name.startswith("codes-destroyed") and ocr.tesseract() is None:
        return "no-page-code"
    return case.expect


def judge(case: Case, made: list[Made], records: list[PageRecord], seconds: float) -> Tally:
    tally = Tally(case, pages=len(made), seconds=seconds)
    by_place = {(m.file, m.file_page): m for m in made}
    expect = expected_status(case)
    for r in records:
        m = by_place.get((Path(r.source).name, r.source_page))
        if m is None:  # a whole-file problem
            tally.quarantined[r.reason or r.status] += 1
            continue
        truth_uid = m.job.page.entry["page_uid"]
        where = f"{Path(r.source).name} p{r.source_page} ({m.job.page.entry['form']}: {m.note})"
        if r.status == "quarantined":
            tally.quarantined[r.reason or "?"] += 1
            tally.as_expected += r.reason == expect
        elif r.status == "blank":
            tally.blank += 1
            tally.as_expected += expect == "blank"
        # Misidentified: a record naming another page, or filing a page that must not be
        # (a set-aside page may name the page its genuine code names: it is not filed).
        filed = r.status in ("identified", "duplicate", "conflict")
        if r.page_uid is not None and (
            r.page_uid != truth_uid or (expect != "identified" and filed)
        ):
            tally.misidentified += 1
            tally.wrong.append(f"{where}: {r.status} {r.reason or ''} as page {r.page_uid}")
            continue
        if r.status not in ("identified", "duplicate", "conflict"):
            continue
        tally.identified += 1
        tally.as_expected += expect == "identified"
        tally.via_serial += r.via == "serial"
        tally.rotation_ok += r.rotation == m.rotation
        count_fields(tally, m, r)
        lost = sum("no-outline" in f.get("flags", ()) for f in r.fields.values())
        if r.fields and lost >= len(r.fields) / 4:
            tally.misregistered.append(f"{where}: {lost} of {len(r.fields)} fields no-outline")
    return tally


def count_fields(tally: Tally, made: Made, record: PageRecord) -> None:
    entry = made.job.page.entry
    for f in entry["fields"]:
        fid = f["id"]
        truth = made.truth.fields[fid]
        reading = record.fields.get(fid, {"state": "missing", "score": 0.0})
        read = str(reading["state"])
        flags = tuple(reading.get("flags", ()))
        style = made.truth.styles.get(fid, truth)
        if f["kind"] == "checkbox":
            tally.boxes[truth, read] += 1
            if style == sim.CORRECTED:
                tally.corrected["boxes"] += 1
                tally.corrected["read marked"] += read == MarkState.MARKED
                tally.corrected["flagged"] += MarkFlag.CORRECTED in flags
        else:
            tally.areas[truth, read] += 1
        if read != truth:
            tally.misreads.append(
                Misread(
                    tally.case.name,
                    Path(record.source).name,
                    record.source_page,
                    entry["form"],
                    fid,
                    truth,
                    style,
                    read,
                    float(reading["score"]),
                    flags,
                    made.note,
                )
            )


@dataclass(frozen=True)
class Rates:
    total: int
    accuracy: float
    sensitivity: float | None
    specificity: float | None
    uncertain: float
    false_confident: float


def rates(counts: Counter[tuple[str, str]], yes: str, no: str) -> Rates:
    total = sum(counts.values())
    pos = sum(v for (t, _), v in counts.items() if t == yes)
    neg = sum(v for (t, _), v in counts.items() if t == no)
    right = counts[yes, yes] + counts[no, no]
    wrong = counts[yes, no] + counts[no, yes]
    unsure = total - right - wrong
    return Rates(
        total,
        right / total if total else 0.0,
        counts[yes, yes] / pos if pos else None,
        counts[no, no] / neg if neg else None,
        unsure / total if total else 0.0,
        wrong / total if total else 0.0,
    )


# --------------------------------------------------------------------------------------------
# The naive baseline: zbarimg on every whole page


def zbarimg(files: Sequence[Path], jobs: int) -> tuple[dict[str, list[str]], float] | None:
    """DK1 texts zbarimg finds in each file, and the wall time, with ``jobs`` processes."""
    exe = shutil.which("zbarimg")
    if exe is None or not files:
        return None
    shares = [list(files[k::jobs]) for k in range(jobs) if files[k::jobs]]
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            [exe, "--xml", "-q", "-Sdisable", "-Sqrcode.enable", *map(str, share)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        for share in shares
    ]
    outputs = [p.communicate()[0] for p in running]
    seconds = time.perf_counter() - start
    found: dict[str, list[str]] = {}
    ns = {"z": "http://zbar.sourceforge.net/2008/barcode"}
    for xml in outputs:
        if not xml.strip():
            continue
        for source in ET.fromstring(xml).findall("z:source", ns):
            texts = [d.text or "" for d in source.iterfind(".//z:data", ns)]
            found[Path(source.get("href", "")).name] = [t for t in texts if t.startswith("DK1:")]
    return found, seconds


def naive_uid(text: str) -> str | None:
    """The page uid a scanner that does not verify signatures would take from a code."""
    try:
        raw = base45.decode(text[len(codes.PREFIX) :])
    except ValueError:
        return None
    start = 1 + codes.KEY_ID_SIZE
    return raw[start : start + 16].hex() if len(raw) >= start + 16 else None


def naive_baseline(tally: Tally, made: list[Made], naive: Path, jobs: int) -> None:
    files = sorted(naive.iterdir())
    result = zbarimg(files, jobs)
    if result is None:
        return
    found, seconds = result
    tally.zbar_found = tally.zbar_wrong = 0
    tally.zbar_seconds = seconds
    for m, path in zip(sorted(made, key=lambda m: m.job.number), files, strict=True):
        texts = found.get(path.name, [])
        if not texts:
            continue
        tally.zbar_found += 1
        uids = {naive_uid(t) for t in texts}
        should = m.job.page.entry["page_uid"] if tally.case.expect == "identified" else None
        tally.zbar_wrong += any(u != should for u in uids)
