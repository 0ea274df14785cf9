"""Scan files → page images (downtime/scan/images/). Every input is generated here.

Pages carry a black "anchor" block in the top-left corner (so a turned or mirrored page
shows) and a black square whose position encodes the page number (so page order shows).
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageFile, ImageOps, TiffImagePlugin
from reportlab.lib import pdfencrypt
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from downtime.errors import InputError
from downtime.scan import images
from downtime.scan.images import InputFile, PageImage, PageProblem, find_inputs, read_pages
from downtime.scan.images import inputs as _files

Gray = npt.NDArray[np.uint8]

# --------------------------------------------------------------------------------------------
# Page art and helpers


def page_art(width: int, height: int, number: int = 1) -> Image.Image:
    """A white page: black anchor block top left, a black square whose x encodes ``number``."""
    pixels = np.full((height, width), 255, np.uint8)
    pixels[int(0.05 * height) : int(0.15 * height), int(0.05 * width) : int(0.30 * width)] = 0
    x = int((0.20 + 0.15 * number) * width)
    side = int(0.10 * width)
    pixels[int(0.50 * height) : int(0.50 * height) + side, x : x + side] = 0
    return Image.fromarray(pixels)


def tone(image: Gray, fx: float, fy: float) -> float:
    """Mean value of a small window at a fraction of the image's width and height."""
    h, w = image.shape
    x, y = int(fx * w), int(fy * h)
    return float(image[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3].mean())


def assert_page_art(image: Gray, number: int = 1) -> None:
    """The image is ``page_art(..., number)`` upright: anchor top left, the number's square."""
    assert image.dtype == np.uint8 and image.ndim == 2
    assert tone(image, 0.10, 0.10) < 60, "anchor block (top left) is not black"
    assert tone(image, 0.90, 0.10) > 200, "top right is not white"
    assert tone(image, 0.10, 0.90) > 200, "bottom left is not white"
    x = 0.20 + 0.15 * number + 0.05
    y = 0.50 + 0.05 * image.shape[1] / image.shape[0]
    assert tone(image, x, y) < 60, f"page-number square {number} is not black"
    for other in range(1, 5):
        if other != number:
            assert tone(image, 0.25 + 0.15 * other, y) > 200, f"square {other} is black"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def read(path: Path, **options: int) -> list[PageImage | PageProblem]:
    (item,) = find_inputs([path])
    return list(read_pages(item, **options))


def pages_of(results: Sequence[PageImage | PageProblem]) -> list[PageImage]:
    assert all(isinstance(r, PageImage) for r in results), results
    return [r for r in results if isinstance(r, PageImage)]


def only_problem(results: Sequence[PageImage | PageProblem]) -> PageProblem:
    assert len(results) == 1 and isinstance(results[0], PageProblem), results
    return results[0]


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def multipage(frames: Sequence[Image.Image], fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=list(frames[1:]), **options)
    return buffer.getvalue()


def build_pdf(pages: Sequence[tuple[bytes, dict[str, bytes], tuple[float, float], bytes]]) -> bytes:
    """A minimal PDF: per page its content stream, image XObjects (dictionary entries + stream
    data, as one ``dict body`` ↦ ``stream`` pair), page size and extra page entries."""
    objects: list[bytes] = [b""]  # 1: the page tree, filled in at the end
    kids = []
    for content, xobjects, (width, height), extra in pages:
        names = []
        for name, body in xobjects.items():
            head, data = body.split(b"\nstream\n", 1)
            objects.append(
                b"<< /Type /XObject /Subtype /Image "
                + head
                + b" /Length %d >>\nstream\n" % len(data)
                + data
                + b"\nendstream"
            )
            names.append(b"/%s %d 0 R" % (name.encode(), len(objects)))
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        contents = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 1 0 R /MediaBox [0 0 %g %g] /Contents %d 0 R "
            b"/Resources << /XObject << %s >> /Font << /F1 << /Type /Font /Subtype /Type1 "
            b"/BaseFont /Helvetica >> >> >> %s >>"
            % (width, height, contents, b" ".join(names), extra)
        )
        kids.append(len(objects))
    objects[0] = b"<< /Type /Pages /Count %d /Kids [%s] >>" % (
        len(kids),
        b" ".join(b"%d 0 R" % kid for kid in kids),
    )
    objects.append(b"<< /Type /Catalog /Pages 1 0 R >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        len(objects),
        xref,
    )
    return bytes(out)


def image_page(
    dictionary: bytes,
    data: bytes,
    size: tuple[float, float],
    *,
    matrix: bytes | None = None,
    extra: bytes = b"",
    text: bytes = b"",
) -> tuple[bytes, dict[str, bytes], tuple[float, float], bytes]:
    width, height = size
    placed = matrix or b"%g 0 0 %g 0 0" % (width, height)
    content = b"q " + placed + b" cm /Im0 Do Q" + text
    return content, {"Im0": dictionary + b"\nstream\n" + data}, size, extra


def gray_flate(image: Image.Image) -> tuple[bytes, bytes]:
    """An 8-bit gray image XObject's dictionary entries and Flate stream data."""
    w, h = image.size
    dictionary = b"/Width %d /Height %d /ColorSpace /DeviceGray /BitsPerComponent 8 " % (w, h)
    return dictionary + b"/Filter /FlateDecode", zlib.compress(image.tobytes())


# --------------------------------------------------------------------------------------------
# Finding files


def test_find_inputs_records_hash_size_and_kind_by_content(tmp_path: Path) -> None:
    png = encoded(page_art(60, 80), "PNG")
    given = write(tmp_path / "scan.pdf", png)  # a PNG whatever its name says
    (item,) = find_inputs([given])
    assert item == InputFile(str(given), given, hashlib.sha256(png).hexdigest(), len(png), "png")
    (page,) = pages_of(list(read_pages(item)))
    assert page.origin == "png"
    assert_page_art(page.image)


def test_sniff_allow_list() -> None:
    assert images.sniff(b"%PDF-1.7\n") == "pdf"
    assert images.sniff(b"\x00" * 1024 + b"%PDF-1.4") == "pdf"  # junk before the header
    assert images.sniff(b"\x00" * 1025 + b"%PDF-1.4") == "unknown"
    assert images.sniff(b"II*\x00\x08\x00\x00\x00") == "tiff"
    assert images.sniff(b"MM\x00*\x00\x00\x00\x08") == "tiff"
    assert images.sniff(b"\x89PNG\r\n\x1a\n") == "png"
    assert images.sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert images.sniff(b"GIF89a") == "unknown"
    assert images.sniff(b"BM") == "unknown"
    assert images.sniff(b"") == "unknown"


def test_folders_recursively_sorted_hidden_skipped_links_kept_inside(tmp_path: Path) -> None:
    png = encoded(page_art(40, 50), "PNG")
    scans = tmp_path / "scans"
    for name in ("b.png", "a.png", "sub/z.png", "sub/deeper/c.png", "a0/x.png"):
        write(scans / name, png)
    write(scans / "readme.txt", b"scanned on the ward printer\n")
    write(scans / ".DS_Store", b"junk")
    write(scans / ".thumbs" / "t.png", png)
    write(scans / "sub" / ".hidden.png", png)
    outside = write(tmp_path / "elsewhere" / "secret.png", png)
    (scans / "link-out.png").symlink_to(outside)
    (scans / "dir-link").symlink_to(scans / "sub", target_is_directory=True)
    (scans / "dangling.png").symlink_to(tmp_path / "nothing.png")
    single = write(tmp_path / "single.jpg", encoded(page_art(40, 50), "JPEG"))

    found = find_inputs([single, scans])
    assert [item.source for item in found] == [
        str(single),
        str(scans / "a.png"),
        str(scans / "a0" / "x.png"),
        str(scans / "b.png"),
        str(scans / "readme.txt"),
        str(scans / "sub" / "deeper" / "c.png"),
        str(scans / "sub" / "z.png"),
    ]
    assert [item.kind for item in found] == ["jpeg", "png", "png", "png", "unknown", "png", "png"]
    assert find_inputs([single, scans]) == found  # stable
    # a file reached twice (named and inside a named folder) is read once
    assert [i.source for i in find_inputs([scans / "b.png", scans])].count(
        str(scans / "b.png")
    ) == 1
    assert len(find_inputs([scans / "b.png", scans])) == len(found) - 1


def test_entries_of_a_folder_that_are_not_read_are_listed_with_why(tmp_path: Path) -> None:
    """Issue 8.6: links and special files were passed over without a word."""
    png = encoded(page_art(40, 50), "PNG")
    scans = tmp_path / "scans"
    write(scans / "sub" / "a.png", png)
    outside = write(tmp_path / "elsewhere" / "secret.png", png)
    (scans / "link-out.png").symlink_to(outside)
    (scans / "dir-link").symlink_to(scans / "sub", target_is_directory=True)
    (scans / "dangling.png").symlink_to(tmp_path / "nothing.png")
    (scans / "loop.png").symlink_to(scans / "loop.png")
    (scans / "null.png").symlink_to(os.devnull)
    (scans / ".hidden-link").symlink_to(tmp_path / "nothing.png")
    if hasattr(os, "mkfifo"):
        os.mkfifo(scans / "sub" / "pipe")

    found, skipped = images.list_inputs([scans])

    assert [item.source for item in found] == [str(scans / "sub" / "a.png")]
    why = {Path(s.source).relative_to(scans).as_posix(): s.why for s in skipped}
    assert list(why) == sorted(why, key=lambda name: name.split("/"))  # walk order
    assert why["link-out.png"].startswith("a symbolic link to a file outside the folder")
    assert why["dir-link"].startswith("a symbolic link to a folder")
    assert why["dangling.png"].startswith("a broken symbolic link")
    assert why["loop.png"] == "a symbolic link that loops or cannot be followed"
    assert why["null.png"] == "a symbolic link to a device, not a file; never opened"
    if hasattr(os, "mkfifo"):
        assert why["sub/pipe"] == "a named pipe (FIFO), not a file; never opened"
    assert find_inputs([scans]) == found


def test_a_link_inside_the_folder_to_a_file_inside_it_is_followed(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    write(scans / "real" / "page.png", encoded(page_art(40, 50), "PNG"))
    scans.joinpath("alias.png").symlink_to(scans / "real" / "page.png")
    # listed once, under the first name the walk reaches
    assert [item.source for item in find_inputs([scans])] == [str(scans / "alias.png")]


def test_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path / "there.png", encoded(page_art(40, 50), "PNG"))
    with pytest.raises(InputError, match=r"nowhere\.pdf") as caught:
        find_inputs([tmp_path / "there.png", tmp_path / "nowhere.pdf"])
    assert caught.value.exit_code == 3


# --------------------------------------------------------------------------------------------
# PDF


@pytest.mark.parametrize("maker", ["pillow", "reportlab"])
def test_scanner_pdf_of_jpeg_pages_is_used_at_native_resolution(tmp_path: Path, maker: str) -> None:
    # 4 × 5 inch pages scanned at 150 dpi: 600 × 750 pixels, one JPEG per page
    arts = [page_art(600, 750, n).convert("RGB") for n in (1, 2, 3)]
    path = tmp_path / "scanner.pdf"
    if maker == "pillow":
        write(path, multipage(arts, "PDF", resolution=150, quality=90))
    else:
        pdf = canvas.Canvas(str(path), pagesize=(288, 360))
        for art in arts:
            jpeg = io.BytesIO(encoded(art, "JPEG", quality=90))
            pdf.drawImage(ImageReader(jpeg), 0, 0, width=288, height=360)
            pdf.showPage()
        pdf.save()
        assert path.read_bytes().count(b"/DCTDecode") == 3
    pages = pages_of(read(path))
    assert [p.source_page for p in pages] == [1, 2, 3]
    for number, page in enumerate(pages, 1):
        assert page.origin == "pdf-image"
        assert page.image.shape == (750, 600)  # the image's own pixels, not a 200 dpi render
        assert page.dpi == (150.0, 150.0)
        assert not page.image.flags.writeable
        assert_page_art(page.image, number)


def test_ocr_text_layer_does_not_stop_native_image_use(tmp_path: Path) -> None:
    path = tmp_path / "ocr.pdf"
    pdf = canvas.Canvas(str(path), pagesize=(288, 360))
    pdf.drawImage(ImageReader(page_art(600, 750).convert("RGB")), 0, 0, width=288, height=360)
    text = pdf.beginText(30, 300)
    text.setTextRenderMode(3)  # invisible, as OCR software writes it
    text.textLine("Journal entry recognised by OCR")
    pdf.drawText(text)
    pdf.showPage()
    pdf.drawImage(ImageReader(page_art(600, 750).convert("RGB")), 0, 0, width=288, height=360)
    pdf.drawString(30, 300, "visible text: this page must be rendered")
    pdf.showPage()
    pdf.save()
    first, second = pages_of(read(path))
    assert first.origin == "pdf-image" and first.image.shape == (750, 600)
    assert second.origin == "pdf-render" and second.image.shape == (1000, 800)
    assert_page_art(first.image)
    assert_page_art(second.image)


def test_pdf_with_ccitt_g4_pages_from_pillow_black_is_zero(tmp_path: Path) -> None:
    arts = [page_art(400, 520, n).convert("1") for n in (1, 2)]
    data = multipage(arts, "PDF", resolution=100)
    assert b"/CCITTFaxDecode" in data
    pages = pages_of(read(write(tmp_path / "g4.pdf", data)))
    for number, page in enumerate(pages, 1):
        assert page.origin == "pdf-image" and page.image.shape == (520, 400)
        assert page.dpi == (100.0, 100.0)
        assert set(np.unique(page.image)) == {0, 255}
        assert_page_art(page.image, number)


def g4_strip(art: Image.Image) -> tuple[bytes, int]:
    """The one CCITT G4 strip of a 1-bit image, and its TIFF photometric interpretation."""
    data = encoded(art, "TIFF", compression="group4")
    tiff = Image.open(io.BytesIO(data))
    assert isinstance(tiff, TiffImagePlugin.TiffImageFile)
    tags = tiff.tag_v2
    (offset,), (count,) = tags[273], tags[279]
    return data[offset : offset + count], int(tags[262])


@pytest.mark.parametrize("inverted", [False, True])
def test_pdf_ccitt_blackis1_and_decode_array_are_honoured(tmp_path: Path, inverted: bool) -> None:
    art = page_art(200, 260).convert("1")
    strip, photometric = g4_strip(art)
    black_is_1 = photometric == 1  # a 0 bit is black: coded as the fax's white runs
    decode = b""
    if inverted:  # the opposite flag, undone by a /Decode array: the same picture
        black_is_1, decode = not black_is_1, b"/Decode [1 0]"
    dictionary = (
        b"/Width 200 /Height 260 /ColorSpace /DeviceGray /BitsPerComponent 1 %s "
        b"/Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns 200 /Rows 260 /BlackIs1 %s >>"
        % (decode, b"true" if black_is_1 else b"false")
    )
    data = build_pdf([image_page(dictionary, strip, (144, 187.2))])
    (page,) = pages_of(read(write(tmp_path / "ccitt.pdf", data)))
    assert page.origin == "pdf-image" and page.image.shape == (260, 200)
    assert set(np.unique(page.image)) == {0, 255}
    assert_page_art(page.image)


@pytest.mark.parametrize("bits", [1, 8])
def test_pdf_flate_images_with_decode_array_come_out_black_on_white(
    tmp_path: Path, bits: int
) -> None:
    art = page_art(200, 260)
    negative = ImageOps.invert(art)  # stored inverted, turned back by /Decode [1 0]
    if bits == 1:
        stored = np.packbits(np.asarray(negative) > 127, axis=1).tobytes()
    else:
        stored = negative.tobytes()
    dictionary = (
        b"/Width 200 /Height 260 /ColorSpace /DeviceGray /BitsPerComponent %d "
        b"/Decode [1 0] /Filter /FlateDecode" % bits
    )
    data = build_pdf([image_page(dictionary, zlib.compress(stored), (144, 187.2))])
    (page,) = pages_of(read(write(tmp_path / "decode.pdf", data)))
    assert page.origin == "pdf-image" and page.image.shape == (260, 200)
    assert page.dpi == (100.0, 100.0)
    if bits == 1:
        assert set(np.unique(page.image)) == {0, 255}
    assert_page_art(page.image)


def test_pdf_image_mask_is_rendered_with_its_fill_colour(tmp_path: Path) -> None:
    art = page_art(200, 260)
    # a stencil: 0 samples are painted in the fill colour (black here), 1 samples left alone
    stored = np.packbits(np.asarray(art) > 127, axis=1).tobytes()
    dictionary = b"/Width 200 /Height 260 /ImageMask true /BitsPerComponent 1 /Filter /FlateDecode"
    data = build_pdf([image_page(dictionary, zlib.compress(stored), (144, 187.2))])
    (page,) = pages_of(read(write(tmp_path / "mask.pdf", data)))
    assert page.origin == "pdf-render"
    assert page.image.shape == (520, 400) and page.dpi == (200.0, 200.0)
    assert_page_art(page.image)


def test_pdf_rotated_page_or_image_or_partial_image_falls_back_to_rendering(
    tmp_path: Path,
) -> None:
    art = page_art(200, 260)
    landscape = art.rotate(90, expand=True)  # stored turned a quarter counter-clockwise
    pages = [
        # the page turned by /Rotate 90 (clockwise): shows upright
        image_page(*gray_flate(landscape), (187.2, 144), extra=b"/Rotate 90"),
        # the image placed turned a quarter clockwise by its matrix: shows upright
        image_page(*gray_flate(landscape), (144, 187.2), matrix=b"0 -187.2 144 0 0 187.2"),
        # the image covers only the top half of the page
        image_page(*gray_flate(art), (144, 374.4), matrix=b"144 0 0 187.2 0 187.2"),
    ]
    results = pages_of(read(write(tmp_path / "turned.pdf", build_pdf(pages))))
    assert [p.origin for p in results] == ["pdf-render"] * 3
    rotated, matrixed, partial = (p.image for p in results)
    assert rotated.shape == matrixed.shape == (520, 400)
    assert_page_art(rotated)
    assert_page_art(matrixed)
    assert partial.shape == (1040, 400)
    assert_page_art(partial[:520])
    assert partial[530:].min() == 255


def test_vector_pdf_is_rendered_at_pdf_dpi(tmp_path: Path) -> None:
    path = tmp_path / "vector.pdf"
    pdf = canvas.Canvas(str(path), pagesize=(288, 360))  # 4 × 5 inches
    pdf.rect(0.05 * 288, 0.85 * 360, 0.25 * 288, 0.10 * 360, stroke=0, fill=1)
    pdf.rect(0.35 * 288, 0.50 * 360 - 0.1 * 288, 0.1 * 288, 0.1 * 288, stroke=0, fill=1)
    pdf.drawString(30, 100, "Läkemedelsordination")
    pdf.showPage()
    pdf.save()
    (page,) = pages_of(read(path))
    assert page.origin == "pdf-render"
    assert page.image.shape == (1000, 800) and page.dpi == (200.0, 200.0)
    assert tone(page.image, 0.10, 0.10) == 0 and tone(page.image, 0.9, 0.9) == 255
    assert page.image[690:725, 80:400].min() < 100  # the text
    (coarse,) = pages_of(read(path, pdf_dpi=100))
    assert coarse.image.shape == (500, 400) and coarse.dpi == (100.0, 100.0)


def test_pdf_with_leading_junk_is_read(tmp_path: Path) -> None:
    data = b"\x00junk from a mail gateway\n" * 30 + multipage([page_art(200, 260)], "PDF")
    assert 0 < data.index(b"%PDF-") <= 1024
    (page,) = pages_of(read(write(tmp_path / "junk.pdf", data)))
    assert_page_art(page.image)


def test_a_damaged_page_in_the_middle_is_reported_and_the_rest_read(tmp_path: Path) -> None:
    def jpeg_page(art: Image.Image) -> tuple[bytes, dict[str, bytes], tuple[float, float], bytes]:
        dictionary = (
            b"/Width 200 /Height 260 /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode"
        )
        return image_page(dictionary, encoded(art, "JPEG", quality=95), (144, 187.2))

    broken = jpeg_page(page_art(200, 260, 2))
    broken[1]["Im0"] = broken[1]["Im0"].replace(b"\xff\xd8\xff", b"\x00\x00\x00", 1)
    pages = [jpeg_page(page_art(200, 260, 1)), broken, jpeg_page(page_art(200, 260, 3))]
    first, problem, third = read(write(tmp_path / "middle.pdf", build_pdf(pages)))
    assert isinstance(first, PageImage) and isinstance(third, PageImage)
    assert (first.source_page, third.source_page) == (1, 3)
    assert_page_art(first.image, 1)
    assert_page_art(third.image, 3)
    assert isinstance(problem, PageProblem)
    assert (problem.source_page, problem.reason) == (2, "corrupt-file")
    assert "page 2" in problem.message


def test_encrypted_pdf_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    encryption = pdfencrypt.StandardEncryption("patient-secret", ownerPassword="owner")
    pdf = canvas.Canvas(str(path), pagesize=(288, 360), encrypt=encryption)
    pdf.drawString(30, 300, "locked")
    pdf.showPage()
    pdf.save()
    problem = only_problem(read(path))
    assert (problem.source_page, problem.reason) == (0, "encrypted-pdf")
    assert "password" in problem.message and "scan again" in problem.message
    assert "patient-secret" not in problem.message


def test_pdf_with_only_an_owner_password_is_read(tmp_path: Path) -> None:
    path = tmp_path / "owner.pdf"
    encryption = pdfencrypt.StandardEncryption("", ownerPassword="owner", canPrint=0)
    pdf = canvas.Canvas(str(path), pagesize=(288, 360), encrypt=encryption)
    pdf.rect(0, 0, 288, 360, stroke=0, fill=1)
    pdf.showPage()
    pdf.save()
    (page,) = pages_of(read(path))
    assert page.image.max() == 0


def test_truncated_and_corrupt_pdfs(tmp_path: Path) -> None:
    data = multipage([page_art(200, 260, n) for n in (1, 2, 3)], "PDF")
    cut = only_problem(read(write(tmp_path / "cut.pdf", data[: len(data) * 2 // 3])))
    assert (cut.source_page, cut.reason) == (0, "truncated-file")
    broken = data[:200] + bytes(len(data) - 300) + data[-100:]  # keeps header and %%EOF
    problem = only_problem(read(write(tmp_path / "broken.pdf", broken)))
    assert (problem.source_page, problem.reason) == (0, "corrupt-file")


def test_pdf_without_its_end_marker_is_read_but_reported(tmp_path: Path) -> None:
    data = multipage([page_art(200, 260, n) for n in (1, 2)], "PDF")
    assert data.rstrip().endswith(b"%%EOF")
    results = read(write(tmp_path / "unended.pdf", data.rstrip()[: -len(b"%%EOF")]))
    *pages, problem = results
    assert [p.source_page for p in pages_of(pages)] == [1, 2]
    assert isinstance(problem, PageProblem)
    assert (problem.source_page, problem.reason) == (3, "truncated-file")


def test_pdf_page_bombs_are_refused_before_decoding(tmp_path: Path) -> None:
    art = multipage([page_art(400, 520)], "PDF", resolution=100)
    problem = only_problem(read(write(tmp_path / "big-image.pdf", art), max_pixels=200_000))
    assert (problem.source_page, problem.reason) == (1, "decompression-bomb")
    assert "400 × 520" in problem.message
    # a vector page of 200 × 200 inches would render to 40 000 × 40 000 pixels at 200 dpi
    path = tmp_path / "huge-page.pdf"
    pdf = canvas.Canvas(str(path), pagesize=(14400, 14400))
    pdf.drawString(30, 300, "huge")
    pdf.showPage()
    pdf.save()
    problem = only_problem(read(path))
    assert (problem.source_page, problem.reason) == (1, "decompression-bomb")


def test_too_many_pdf_pages(tmp_path: Path) -> None:
    data = multipage([page_art(100, 130, n) for n in (1, 2, 3)], "PDF")
    *pages, problem = read(write(tmp_path / "long.pdf", data), max_pages=2)
    assert [p.source_page for p in pages_of(pages)] == [1, 2]
    assert isinstance(problem, PageProblem)
    assert (problem.source_page, problem.reason) == (3, "too-many-pages")
    assert "3 pages" in problem.message


# --------------------------------------------------------------------------------------------
# TIFF


@pytest.mark.parametrize(
    ("compression", "mode"),
    [("group4", "1"), ("tiff_lzw", "L"), ("jpeg", "RGB"), ("tiff_adobe_deflate", "L")],
)
def test_multipage_tiff_every_frame_with_dpi(tmp_path: Path, compression: str, mode: str) -> None:
    frames = [page_art(400, 520, n).convert(mode) for n in (1, 2, 3)]
    data = multipage(frames, "TIFF", compression=compression, dpi=(200, 200))
    pages = pages_of(read(write(tmp_path / f"{compression}.tif", data)))
    assert [p.source_page for p in pages] == [1, 2, 3]
    for number, page in enumerate(pages, 1):
        assert page.origin == "tiff" and page.image.shape == (520, 400)
        assert page.dpi == (200.0, 200.0)
        if mode == "1":
            assert set(np.unique(page.image)) == {0, 255}
        assert_page_art(page.image, number)


def test_tiff_dpi_in_centimetres_and_16_bit_frames(tmp_path: Path) -> None:
    art = np.asarray(page_art(200, 260), dtype=np.uint16) * 257  # 0 … 65535
    art[-20:] = 0x8080  # a mid-grey band along the bottom
    deep = Image.fromarray(art)
    assert deep.mode == "I;16"
    data = encoded(deep, "TIFF", x_resolution=118.11, y_resolution=118.11, resolution_unit=3)
    (page,) = pages_of(read(write(tmp_path / "deep.tif", data)))
    assert page.dpi == pytest.approx((300.0, 300.0), abs=0.01)
    assert page.image.dtype == np.uint8 and page.image.max() == 255
    assert set(np.unique(page.image[-20:])) == {128}
    assert_page_art(page.image)


@pytest.mark.parametrize(("compression", "mode"), [("tiff_lzw", "L"), ("group4", "1")])
def test_truncated_multipage_tiff_keeps_the_pages_before_the_cut(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], compression: str, mode: str
) -> None:
    frames = [page_art(400, 520, n).convert(mode) for n in (1, 2, 3)]
    data = multipage(frames, "TIFF", compression=compression)
    results = read(write(tmp_path / "cut.tif", data[: int(len(data) * 0.8)]))
    # libtiff, which decodes these, says nothing on stderr either (the cut chain is mended)
    assert capfd.readouterr().err == ""
    good = [r for r in results if isinstance(r, PageImage)]
    problems = [r for r in results if isinstance(r, PageProblem)]
    assert [p.source_page for p in good] == [1, 2]
    for number, page in enumerate(good, 1):
        assert_page_art(page.image, number)
    assert [(p.source_page, p.reason) for p in problems] == [(3, "truncated-file")]
    assert "page 3" in problems[0].message


def test_uncompressed_tiff_cut_in_a_page_reports_that_page_and_the_rest(tmp_path: Path) -> None:
    # Pillow writes uncompressed pages directory first: the cut falls inside page 2's pixels
    frames = [page_art(200, 260, n) for n in (1, 2, 3)]
    data = multipage(frames, "TIFF")
    results = read(write(tmp_path / "cut.tif", data[: int(len(data) * 0.5)]))
    first, *problems = results
    assert isinstance(first, PageImage)
    assert_page_art(first.image, 1)
    assert [(p.source_page, p.reason) for p in problems if isinstance(p, PageProblem)] == [
        (2, "truncated-file"),
        (3, "truncated-file"),
    ]


def test_tiff_whose_page_chain_loops_is_read_once_and_reported(tmp_path: Path) -> None:
    data = bytearray(multipage([page_art(100, 130, n) for n in (1, 2)], "TIFF"))
    (first,) = struct.unpack_from("<I", data, 4)
    offset = first
    while True:  # to the last directory, whose "next" (0) now points back to the first
        (entries,) = struct.unpack_from("<H", data, offset)
        (following,) = struct.unpack_from("<I", data, offset + 2 + 12 * entries)
        if not following:
            struct.pack_into("<I", data, offset + 2 + 12 * entries, first)
            break
        offset = following
    *pages, problem = read(write(tmp_path / "loop.tif", bytes(data)))
    assert [p.source_page for p in pages_of(pages)] == [1, 2]
    assert isinstance(problem, PageProblem)
    assert (problem.source_page, problem.reason) == (3, "corrupt-file")


def test_too_many_tiff_pages(tmp_path: Path) -> None:
    data = multipage([page_art(100, 130, n) for n in (1, 2, 3)], "TIFF")
    *pages, problem = read(write(tmp_path / "long.tif", data), max_pages=2)
    assert [p.source_page for p in pages_of(pages)] == [1, 2]
    assert isinstance(problem, PageProblem)
    assert (problem.source_page, problem.reason) == (3, "too-many-pages")
    assert "more than 2 pages" in problem.message


def test_tiff_frame_bomb_is_refused_per_page(tmp_path: Path) -> None:
    frames = [page_art(100, 130, 1), page_art(400, 520, 2), page_art(100, 130, 3)]
    data = multipage(frames, "TIFF", compression="tiff_lzw")
    first, problem, third = read(write(tmp_path / "mixed.tif", data), max_pixels=100_000)
    assert isinstance(first, PageImage) and isinstance(third, PageImage)
    assert isinstance(problem, PageProblem)
    assert (problem.source_page, problem.reason) == (2, "decompression-bomb")


# --------------------------------------------------------------------------------------------
# PNG and JPEG


def test_png_rgba_composited_on_white(tmp_path: Path) -> None:
    art = page_art(200, 260).convert("RGBA")
    pixels = np.array(art)
    pixels[200:, :, 3] = 0  # transparent (and black underneath): must come out white
    pixels[200:, :, :3] = 0
    data = encoded(Image.fromarray(pixels), "PNG", dpi=(300, 300))
    (page,) = pages_of(read(write(tmp_path / "rgba.png", data)))
    assert page.origin == "png" and page.dpi == (300.0, 300.0)
    assert page.image[200:].min() == 255
    assert_page_art(page.image)


def test_png_palette_with_transparency_la_and_16_bit(tmp_path: Path) -> None:
    art = np.asarray(page_art(200, 260))
    palette = Image.fromarray(np.where(art == 0, 1, 2).astype(np.uint8), "P")
    palette.putpalette([255, 0, 0, 0, 0, 0, 255, 255, 255])  # 0 red (transparent), black, white
    indices = np.array(palette)
    indices[200:] = 0
    palette = Image.fromarray(indices, "P")
    palette.putpalette([255, 0, 0, 0, 0, 0, 255, 255, 255])
    (page,) = pages_of(read(write(tmp_path / "p.png", encoded(palette, "PNG", transparency=0))))
    assert page.image[200:].min() == 255
    assert_page_art(page.image)

    alpha = np.full_like(art, 255)
    alpha[200:] = 0
    la = Image.fromarray(np.stack([np.where(alpha == 0, 0, art), alpha], axis=2), "LA")
    (page,) = pages_of(read(write(tmp_path / "la.png", encoded(la, "PNG"))))
    assert page.image[200:].min() == 255
    assert_page_art(page.image)

    wide = art.astype(np.uint16) * 257
    wide[-20:] = 0x8080  # a mid-grey band along the bottom
    deep = Image.fromarray(wide)
    (page,) = pages_of(read(write(tmp_path / "deep.png", encoded(deep, "PNG"))))
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    assert page.image.dtype == np.uint8 and set(np.unique(page.image)) == {0, 128, 255}
    assert set(np.unique(page.image[-20:])) == {128}
    assert page.dpi is None
    assert_page_art(page.image)


def test_jpeg_phone_photo_exif_orientation_6_comes_out_upright(tmp_path: Path) -> None:
    upright = page_art(300, 400).convert("RGB")
    stored = upright.rotate(90, expand=True)  # what the sensor wrote: turned a quarter
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encoded(stored, "JPEG", exif=exif, dpi=(72, 96), quality=92)
    (page,) = pages_of(read(write(tmp_path / "photo.jpg", data)))
    assert page.origin == "jpeg"
    assert page.image.shape == (400, 300)
    assert page.dpi == (96.0, 72.0)  # turned with the picture
    assert_page_art(page.image)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_as_pillow_transposes_it(tmp_path: Path, orientation: int) -> None:
    rng = np.random.default_rng(orientation)
    stored = Image.fromarray(rng.integers(0, 256, (30, 40), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = write(tmp_path / "o.png", encoded(stored, "PNG", exif=exif))
    (page,) = pages_of(read(path))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    assert np.array_equal(page.image, expected)


def test_jpeg_gray_and_colour_decode_to_the_same_page(tmp_path: Path) -> None:
    art = page_art(400, 520)
    gray = pages_of(read(write(tmp_path / "g.jpg", encoded(art, "JPEG", quality=95))))[0]
    colour = pages_of(read(write(tmp_path / "c.jpg", encoded(art.convert("RGB"), "JPEG"))))[0]
    assert gray.dpi is None or gray.dpi == (72.0, 72.0)
    assert gray.image.shape == colour.image.shape == (520, 400)
    assert np.abs(gray.image.astype(int) - colour.image.astype(int)).mean() < 3
    assert_page_art(colour.image)


def test_truncated_jpeg_and_png(tmp_path: Path) -> None:
    art = page_art(400, 520)
    noisy = Image.fromarray(
        np.clip(
            np.asarray(art, dtype=np.int16)
            + np.random.default_rng(3).integers(-20, 20, (520, 400)),
            0,
            255,
        ).astype(np.uint8)
    )
    for name, fmt in (("cut.jpg", "JPEG"), ("cut.png", "PNG")):
        data = encoded(noisy, fmt)
        problem = only_problem(read(write(tmp_path / name, data[: len(data) // 2])))
        assert (problem.source_page, problem.reason) == (1, "truncated-file"), name
    header_only = encoded(noisy, "PNG")[:20]
    problem = only_problem(read(write(tmp_path / "stub.png", header_only)))
    assert problem.reason == "truncated-file"


def test_corrupt_png_with_a_proper_end(tmp_path: Path) -> None:
    data = bytearray(encoded(page_art(200, 260), "PNG"))
    assert data[37:41] == b"IDAT"
    data[41:43] = bytes(2)  # the compressed pixels' header; the file still ends properly
    problem = only_problem(read(write(tmp_path / "bad.png", bytes(data))))
    assert problem.reason == "corrupt-file"


def png_claiming(width: int, height: int) -> bytes:
    """A tiny real PNG whose header claims ``width × height`` (with a correct CRC)."""
    data = bytearray(encoded(Image.new("L", (8, 8), 255), "PNG"))
    assert data[12:16] == b"IHDR"
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize("side", [20_000, 11_000])  # beyond Pillow's own limit / only ours
def test_png_bomb_is_refused_from_its_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int
) -> None:
    path = write(tmp_path / "bomb.png", png_claiming(side, side))
    loads: list[object] = []
    original = Image.Image.load

    def spy(self: Image.Image) -> object:
        loads.append(self)
        return original(self)

    monkeypatch.setattr(Image.Image, "load", spy)
    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even Pillow's DecompressionBombWarning escapes
        problem = only_problem(read(path))
    assert (problem.source_page, problem.reason) == (1, "decompression-bomb")
    assert loads == []
    if side == 11_000:
        assert "11000 × 11000" in problem.message


def test_max_pixels_applies_to_ordinary_images(tmp_path: Path) -> None:
    path = write(tmp_path / "page.jpg", encoded(page_art(400, 520), "JPEG"))
    problem = only_problem(read(path, max_pixels=400 * 520 - 1))
    assert problem.reason == "decompression-bomb"
    assert len(pages_of(read(path, max_pixels=400 * 520))) == 1


# --------------------------------------------------------------------------------------------
# Files that are not scans, or that change


def test_zero_byte_file(tmp_path: Path) -> None:
    problem = only_problem(read(write(tmp_path / "empty.pdf", b"")))
    assert (problem.source_page, problem.reason) == (0, "empty-file")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.pdf", b"This is not a PDF, only text that ends in .pdf\n"),
        ("image.gif", encoded(page_art(40, 50), "GIF")),
        ("image.bmp", encoded(page_art(40, 50), "BMP")),
        ("image.webp", encoded(page_art(40, 50), "WEBP")),
    ],
)
def test_unsupported_formats_by_content(tmp_path: Path, name: str, data: bytes) -> None:
    problem = only_problem(read(write(tmp_path / name, data)))
    assert (problem.source_page, problem.reason) == (0, "unsupported-format")
    assert "PDF, TIFF, PNG or JPEG" in problem.message
    assert data[:10].decode("latin-1") not in problem.message


def test_a_file_changed_after_it_was_listed(tmp_path: Path) -> None:
    path = write(tmp_path / "page.png", encoded(page_art(40, 50), "PNG"))
    (item,) = find_inputs([path])
    write(path, encoded(page_art(40, 50, 2), "PNG"))
    problem = only_problem(list(read_pages(item)))
    assert (problem.source_page, problem.reason) == (0, "unreadable-file")
    path.unlink()
    problem = only_problem(list(read_pages(item)))
    assert problem.reason == "unreadable-file"


def _unreadable_file(tmp_path: Path) -> Path:
    """A file whose reading fails: locked for an ordinary user; for root (whom permissions
    do not stop, as in CI), Linux's /proc/self/mem, which fails to read at offset 0."""
    if os.geteuid() == 0:
        return Path("/proc/self/mem")
    path = write(tmp_path / "locked.png", encoded(page_art(40, 50), "PNG"))
    path.chmod(0)
    return path


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux")
def test_an_unreadable_file_is_listed_and_reported(tmp_path: Path) -> None:
    path = _unreadable_file(tmp_path)
    (item,) = find_inputs([path])
    assert item.sha256 == ""
    assert only_problem(list(read_pages(item))).reason == "unreadable-file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipes_are_not_read(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    page = write(scans / "page.png", encoded(page_art(40, 50), "PNG"))
    os.mkfifo(scans / "pipe")
    assert [item.source for item in find_inputs([scans])] == [str(page)]
    with pytest.raises(InputError, match="neither a file nor a folder"):
        find_inputs([scans / "pipe"])
    (item,) = find_inputs([page])
    page.unlink()
    os.mkfifo(page)  # replaced after it was listed: must not wait for a writer
    assert only_problem(list(read_pages(item))).reason == "unreadable-file"


def test_large_files_are_read_from_disk_not_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_files, "IN_MEMORY_LIMIT", 0)  # where _open reads it
    pdf = write(tmp_path / "a.pdf", multipage([page_art(200, 260, n) for n in (1, 2)], "PDF"))
    tif = write(tmp_path / "b.tif", multipage([page_art(200, 260, n) for n in (1, 2)], "TIFF"))
    jpg = write(tmp_path / "c.jpg", encoded(page_art(200, 260), "JPEG"))
    for path, count in ((pdf, 2), (tif, 2), (jpg, 1)):
        pages = pages_of(read(path))
        assert len(pages) == count
        for number, page in enumerate(pages, 1):
            assert_page_art(page.image, number)
    cut = write(tmp_path / "cut.tif", tif.read_bytes()[: tif.stat().st_size * 2 // 3])
    results = read(cut)
    assert isinstance(results[0], PageImage)
    assert isinstance(results[-1], PageProblem) and results[-1].reason == "truncated-file"


def test_problem_reasons_are_the_documented_ones() -> None:
    assert {
        "empty-file",
        "unsupported-format",
        "corrupt-file",
        "truncated-file",
        "encrypted-pdf",
        "decompression-bomb",
        "too-many-pages",
        "unreadable-file",
    } == images.REASONS
