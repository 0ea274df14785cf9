"""``python -m downtime``: the ``downtime`` command, where its script is not on PATH."""

from __future__ import annotations

from downtime.cli import main

if __name__ == "__main__":
    main(prog_name="downtime")
