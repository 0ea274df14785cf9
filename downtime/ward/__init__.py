"""Ward stations: the newest checked pack of each ward kept on a PC of the unit, fetched from a
folder or from the print host over HTTPS, and printed there on demand through CUPS.

Modules: ``verify`` (a pack's signatures and hashes), ``holding`` (the station's folder),
``sources`` and ``client`` (a folder, the host's HTTPS service), ``sync`` (one sync),
``serve`` (the host's read-only HTTPS service), ``select`` (the pages to print), ``pdf`` (the
only importer of pypdfium2 here), ``cups`` (the only caller of ``lp``), ``words`` (what a nurse
reads). Like the record's client, this stage touches the disk and the network itself.
"""

from __future__ import annotations

from downtime.ward.holding import Held, WardSync, folder_of, held_packs, read_sync, write_sync
from downtime.ward.sources import Catalogue, HostKey, Offer, SourceUnreachable, folder_catalogue
from downtime.ward.verify import PackPage, PackRefused, VerifiedPack, verify_pack

__all__ = [
    "Catalogue",
    "Held",
    "HostKey",
    "Offer",
    "PackPage",
    "PackRefused",
    "SourceUnreachable",
    "VerifiedPack",
    "WardSync",
    "folder_catalogue",
    "folder_of",
    "held_packs",
    "read_sync",
    "verify_pack",
    "write_sync",
]
