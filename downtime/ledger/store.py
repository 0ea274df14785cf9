"""The image store: originals and registered pages, content-addressed.

``store/ab/abcdef….ext``: the name is the SHA-256 of the content, so the same file stored
twice is stored once, and a stored file can be checked against its name. Files 0600, folders
0700. The ledger records each file by that name (``store/ab/…``), never by where the store is:
by default ``store/`` in the data folder, or a folder several stations share (``image_store``
in site.toml), so the data folder stays relocatable and stations agree on names. A file is
written and synced before the ledger row naming it, so a row never names a file that is not
there; a file a killed run stored without its row is found by ``downtime ledger check``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from downtime import files

CHUNK = 1 << 20


PREFIX = "store/"  # how the ledger names a stored file: store/ab/abcdef….ext


class Store:
    def __init__(self, home: Path, root: Path | None = None) -> None:
        self.home = home
        self.root = root if root is not None else home / "store"

    def path(self, name: str) -> Path:
        """The file the ledger names ``name`` (``store/ab/…``)."""
        if name.startswith(PREFIX):
            return self.root / name[len(PREFIX) :]
        return self.home / name  # not a store name (none is recorded so): as it says

    def put_file(self, source: Path) -> tuple[str, str]:
        """Copy a file into the store, hashing what is copied (one pass, so the name is the
        hash of exactly the stored bytes); returns (sha256, path relative to the data folder).
        """
        files.private_folder(self.root)
        temp = files.new_temp(self.root / "incoming")
        try:
            digest = hashlib.sha256()
            with source.open("rb") as src, temp.open("wb") as dst:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
            sha = digest.hexdigest()
            relative = self._relative(sha, source.suffix.lower())
            target = self.path(relative)
            if not target.exists():
                files.private_folder(target.parent)
                files.commit(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return sha, relative

    def put_bytes(self, data: bytes, suffix: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        relative = self._relative(sha, suffix)
        target = self.path(relative)
        if not target.exists():
            files.private_folder(target.parent)
            files.write_atomic(target, data)
        return relative

    def remove_stale_temps(self) -> int:
        """Remove the temporary files that writers killed mid-copy left in the store (an
        original being copied in, a registered page being written); a running writer's stay."""
        removed = files.remove_stale_temps(self.root)
        if self.root.is_dir():
            for folder in sorted(self.root.iterdir()):
                if len(folder.name) == 2 and folder.is_dir() and not folder.is_symlink():
                    removed += files.remove_stale_temps(folder)
        return removed

    @staticmethod
    def _relative(sha: str, suffix: str) -> str:
        clean = suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""
        return f"{PREFIX}{sha[:2]}/{sha}{clean}"
