"""Review: people settle what reconciliation held — typed transcriptions, boxes read by eye,
the right capture of a page, record conflicts — as decisions in the ledger, two people for
medication typed from handwriting (:mod:`~downtime.review.items`, :mod:`~downtime.review.decide`).
"""

from __future__ import annotations

from downtime.review.decide import ALLOWED, TRANSCRIPTIONS, Settled, decide, transcription_kind
from downtime.review.items import (
    QUEUES,
    ReviewItem,
    age,
    find_item,
    item_id,
    next_item_id,
    open_item_ids,
    review_counts,
    review_items,
)
from downtime.review.whys import WHYS, why_code

__all__ = [
    "ALLOWED",
    "QUEUES",
    "TRANSCRIPTIONS",
    "WHYS",
    "ReviewItem",
    "Settled",
    "age",
    "decide",
    "find_item",
    "item_id",
    "next_item_id",
    "open_item_ids",
    "review_counts",
    "review_items",
    "transcription_kind",
    "why_code",
]
