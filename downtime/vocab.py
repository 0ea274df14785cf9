"""The kit's vocabulary: mark states and flags, field kinds, scan statuses, quarantine reasons.

One place, importing nothing but the standard library, so that every stage (the record side
included) speaks the same words without loading the image stack. The members are ``StrEnum``:
each *is* its string, so JSON output and ledger values are exactly these strings.
"""

from __future__ import annotations

from enum import StrEnum


class MarkState(StrEnum):
    """What a field was read as: tick boxes ``marked``/``empty``, writing areas
    ``written``/``blank``; what is clearly neither is ``uncertain`` and goes to a person."""

    MARKED = "marked"
    EMPTY = "empty"
    WRITTEN = "written"
    BLANK = "blank"
    UNCERTAIN = "uncertain"


CERTAIN_STATES = frozenset({MarkState.MARKED, MarkState.EMPTY, MarkState.WRITTEN, MarkState.BLANK})
INKED_STATES = frozenset({MarkState.MARKED, MarkState.WRITTEN, MarkState.UNCERTAIN})
"""States that may hold something written on the paper (uncertain ones included)."""


class MarkFlag(StrEnum):
    """Why a reading deserves a second look (see ``scan.marks`` for each)."""

    CORRECTED = "corrected"  # a filled or scribbled box: marked, or cancelled?
    NO_OUTLINE = "no-outline"  # the printed outline was not found near its place
    OFF_PAGE = "off-page"  # the field is not wholly inside the image
    OVERRUN = "overrun"  # ink crosses the box edge (information)
    FAINT_PAGE = "faint-page"  # the page may have lost light marks (information)
    REGISTRATION = "registration"  # the page registered poorly: every field uncertain
    LINE_THROUGH = "line-through"  # a straight line (fold, ruler, streak) crosses the field
    # and was not counted as its ink (information)
    UNREGISTERED = "unregistered"  # a genuine page that could not be aligned to its form at
    # all (marks stained or torn away, crumpled): returned, every field uncertain
    STAINED = "stained"  # the box lies at the edge of a stain, blot or shadow: the paper under
    # it differs from the paper beside it, and ink cannot be told from the stain


REVIEW_FLAGS = frozenset(
    {
        MarkFlag.CORRECTED,
        MarkFlag.NO_OUTLINE,
        MarkFlag.OFF_PAGE,
        MarkFlag.UNREGISTERED,
        MarkFlag.STAINED,
    }
)
"""Flags that by themselves need a person (``overrun``, ``faint-page`` and ``line-through`` are
information)."""


class FieldKind(StrEnum):
    """A field of a form: a tick box, or a writing area of some kind."""

    CHECKBOX = "checkbox"
    TEXT = "text"
    SIGNATURE = "signature"
    DATETIME = "datetime"
    NUMBER = "number"


WRITING_KINDS = frozenset(FieldKind) - {FieldKind.CHECKBOX}


class ScanStatus(StrEnum):
    """What a scanned page turned out to be (``downtime scan --json``: ``status``)."""

    IDENTIFIED = "identified"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    QUARANTINED = "quarantined"
    BLANK = "blank"


CAPTURED_STATUSES = frozenset({ScanStatus.IDENTIFIED, ScanStatus.DUPLICATE, ScanStatus.CONFLICT})
"""Statuses of a page that was identified and read (a capture exists)."""


class Reason(StrEnum):
    """Why a page was set aside, or what else the scanner says of it (``reason``)."""

    # the page code
    NOT_DK1 = "not-dk1"
    BAD_BASE45 = "bad-base45"
    BAD_LENGTH = "bad-length"
    UNKNOWN_KEY = "unknown-key"
    BAD_SIGNATURE = "bad-signature"
    BAD_BODY = "bad-body"
    CODES_DISAGREE = "codes-disagree"
    NO_PAGE_CODE = "no-page-code"
    # the page against the ledger and its form
    UNKNOWN_PAGE = "unknown-page"
    LEDGER_MISMATCH = "ledger-mismatch"
    IDENTITY_MISMATCH = "identity-mismatch"  # the printed identity is not the code's
    IDENTITY_UNCONFIRMED = "identity-unconfirmed"  # placed by its codes alone, identity unread
    REGISTRATION_FAILED = "registration-failed"
    TOO_SMALL = "too-small"
    WORKER_CRASH = "worker-crash"
    WORKER_ERROR = "worker-error"
    # the input file
    UNREADABLE_FILE = "unreadable-file"
    EMPTY_FILE = "empty-file"
    CORRUPT_FILE = "corrupt-file"
    TRUNCATED_FILE = "truncated-file"
    UNSUPPORTED_FORMAT = "unsupported-format"
    ENCRYPTED_PDF = "encrypted-pdf"
    TOO_MANY_PAGES = "too-many-pages"
    DECOMPRESSION_BOMB = "decompression-bomb"
    # not set aside: a duplicate of a file scanned before, a blank duplex back
    SAME_FILE = "same-file"
    SHOW_THROUGH = "show-through"


CURABLE = frozenset(
    {
        Reason.UNKNOWN_KEY,
        Reason.UNKNOWN_PAGE,
        Reason.NO_PAGE_CODE,
        Reason.REGISTRATION_FAILED,
        Reason.WORKER_CRASH,
        Reason.WORKER_ERROR,
    }
)
"""Reasons a later scan of the same file may cure: a key imported, a pack's pages imported,
Tesseract installed, a crash or a reader's error not repeated (a corrected version). Other
reasons are properties of the file itself; scanning it again changes nothing."""

ASSIGNABLE = frozenset(
    {
        Reason.NO_PAGE_CODE,
        Reason.REGISTRATION_FAILED,
        Reason.WORKER_CRASH,
        Reason.WORKER_ERROR,
        Reason.IDENTITY_MISMATCH,
        Reason.IDENTITY_UNCONFIRMED,
    }
)
"""Reasons a clerk may resolve by typing the printed serial (of an identity mismatch: after
checking the sheet, the serial of the page it really is). A forged, foreign or contradictory
code is never overridden this way: the paper original must be checked."""


__all__ = [
    "ASSIGNABLE",
    "CAPTURED_STATUSES",
    "CERTAIN_STATES",
    "CURABLE",
    "INKED_STATES",
    "REVIEW_FLAGS",
    "WRITING_KINDS",
    "FieldKind",
    "MarkFlag",
    "MarkState",
    "Reason",
    "ScanStatus",
]
