"""Render the first page of every form of the example pack to PNG for the README.

    python docs/render_examples.py

Prints the bundled example ward MED42 into a temporary data folder (nothing is kept but the
images) and writes docs/img/<form>.png at 80 dpi.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pypdfium2 as pdfium
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from downtime.cli import main  # noqa: E402

DPI = 80


def render(out: Path) -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "MED42.pdf"
        result = CliRunner().invoke(
            main,
            ["--home", f"{tmp}/home", "pack", "--example", "--ward", "MED42", "-o", str(pdf)],
        )
        if result.exit_code:
            raise SystemExit(result.output)
        manifest = json.loads(pdf.with_name("MED42.manifest.json").read_text("utf-8"))
        first: dict[str, int] = {}
        for page in manifest["pages"]:
            first.setdefault(page["form"], page["pdf_page"] - 1)
        doc = pdfium.PdfDocument(pdf)
        written = []
        for form, index in first.items():
            image = doc[index].render(scale=DPI / 72, grayscale=True).to_pil()
            path = out / f"{form}.png"
            image.save(path, optimize=True)
            written.append(path)
        doc.close()
        return written


if __name__ == "__main__":
    for path in render(ROOT / "docs" / "img"):
        print(path.relative_to(ROOT))
