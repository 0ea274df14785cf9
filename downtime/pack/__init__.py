"""A ward's downtime pack: census + forms → one signed PDF, its manifest, and ledger rows.

Order of work, so that nothing printable exists that the ledger does not know:

1. plan every page (pure: which forms, which rows, which time slots) and refuse text the
   font cannot print;
2. give each page a random uid and the serial derived from it (unique in the ledger);
3. sign each page's code and draw the pages into a private temporary PDF;
4. write the manifest beside it, record the pack, its pages and the audit events in one ledger
   transaction, and only then move the PDF and manifest to their final names.
"""

from __future__ import annotations

from downtime.pack.heads import page_head as page_head
from downtime.pack.heads import page_patient as page_patient
from downtime.pack.make import DrawnPack as DrawnPack
from downtime.pack.make import PackJob as PackJob
from downtime.pack.make import PreparedPack as PreparedPack
from downtime.pack.make import draw_pack as draw_pack
from downtime.pack.make import make_packs, prepare_pack
from downtime.pack.make import record_pack as record_pack
from downtime.pack.model import PackContext as PackContext
from downtime.pack.model import PackPlan, PackResult
from downtime.pack.model import PlannedPage as PlannedPage
from downtime.pack.plan import plan_pack

__all__ = [
    "PackPlan",
    "PackResult",
    "make_packs",
    "plan_pack",
    "prepare_pack",
]
