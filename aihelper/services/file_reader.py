"""What an uploaded file is and what the model may see of it, decided in a child process.

Run as a script (`python file_reader.py`, the file on stdin), never imported by the server:
decoding an image or a PDF is CPU work that would hold a worker's event loop and every stream on
it, and a hostile file (a decompression bomb, a zip bomb, a PDF that never ends) must hit this
process's time and memory limits, not the worker's. It imports only the libraries that read files.

The type is decided by the content, never by the name:
- PNG, JPEG, WebP, GIF: decoded by Pillow within a pixel limit, the first frame of an animation,
  EXIF dropped, at most 2048 px on the long side, and written anew (PNG, or JPEG for photos);
- PDF: its text, page by page (pypdf reads no script, runs nothing);
- DOCX, XLSX: a zip whose entries are checked first (count, uncompressed size, ratio), then its
  text by python-docx / openpyxl (read-only, values not formulas);
- text (TXT, Markdown, CSV, source code): UTF-8 (or GB18030, which Chinese Windows writes) without
  NUL; markup a browser would run (HTML, SVG, XML) is refused.

Its answer on stdout: one JSON line `{"kind", "media_type", "text_bytes", "sha256"}` (the digest
of the file to keep) or `{"refused": code}`, then the text (UTF-8, `text_bytes` long), then for an
image the re-encoded bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import zipfile

MAX_SIDE = 2048
PNG_MAX_BYTES = 2 * 1024 * 1024  # beyond, a picture is stored as a JPEG
MAX_PIXELS = 40_000_000  # a 48 MP phone photo is refused, a 40 MP one decoded at a reduced size
ZIP_MAX_ENTRIES = 2000
ZIP_MAX_UNCOMPRESSED = 200 * 1024 * 1024
ZIP_MAX_RATIO = 200  # XML compresses well; a bomb compresses far better
TEXT_MAX_CHARS = 400_000  # what is kept of a document's text: more than any context (a 128k model takes ~400k)
IMAGE_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF87a": "GIF", b"GIF89a": "GIF"}
MARKUP_STARTS = ("<!doctype html", "<html", "<svg", "<?xml", "<head", "<body", "<script", "<iframe")


class Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def image_format(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for signature, fmt in IMAGE_SIGNATURES.items() if data.startswith(signature)), None)


def read_image(data: bytes, fmt: str) -> tuple[dict, bytes]:
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as image:
            if image.width * image.height > MAX_PIXELS:
                raise Refused("image_too_large")
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # a JPEG decodes at a reduced size
            image.seek(0)  # the first frame of an animation
            picture = ImageOps.exif_transpose(image)
            picture.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
            photo = fmt == "JPEG"
            picture = picture.convert("RGB" if photo else "RGBA")
    except Image.DecompressionBombError:
        raise Refused("image_too_large") from None
    except (OSError, ValueError, SyntaxError, Image.UnidentifiedImageError):
        raise Refused("unreadable_file") from None
    output = io.BytesIO()
    if not photo:
        picture.save(output, "PNG", optimize=False)  # written anew: no EXIF, no trailing bytes
        if output.tell() > PNG_MAX_BYTES:  # a photo-like picture: every turn sends it, so smaller
            flattened = Image.new("RGB", picture.size, (255, 255, 255))
            flattened.paste(picture, mask=picture.getchannel("A"))
            picture, photo, output = flattened, True, io.BytesIO()
    if photo:
        picture.save(output, "JPEG", quality=88)
    media_type = "image/jpeg" if photo else "image/png"
    return {"kind": "image", "media_type": media_type, "text": "", "width": picture.width, "height": picture.height}, (
        output.getvalue()
    )


def checked_zip(data: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise Refused("unreadable_file") from None
    total = sum(entry.file_size for entry in entries)
    packed = sum(entry.compress_size for entry in entries) or 1
    if len(entries) > ZIP_MAX_ENTRIES or total > ZIP_MAX_UNCOMPRESSED or total / packed > ZIP_MAX_RATIO:
        raise Refused("archive_too_large")
    return archive


def office_kind(archive: zipfile.ZipFile) -> str | None:
    names = set(archive.namelist())
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return None


def docx_text(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def xlsx_text(data: bytes) -> str:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    lines = []
    for sheet in book.worksheets:
        lines.append(f"# {sheet.title}")
        for row in sheet.iter_rows(values_only=True):
            if any(value is not None for value in row):
                lines.append("\t".join("" if value is None else str(value) for value in row))
    return "\n".join(lines)


def pdf_text(data: bytes) -> str:
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "") for page in reader.pages)
    except Exception:  # pypdf raises many kinds for a broken file
        raise Refused("unreadable_file") from None


def plain_text(data: bytes) -> str:
    if b"\x00" in data:
        raise Refused("unsupported_file")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise Refused("unsupported_file")
    if text.lstrip()[:64].lower().startswith(MARKUP_STARTS):
        raise Refused("unsupported_file")
    return text


def read(data: bytes) -> tuple[dict, bytes]:
    fmt = image_format(data)
    if fmt is not None:
        return read_image(data, fmt)
    if data.startswith(b"%PDF-"):
        text, media_type = pdf_text(data), "application/pdf"
    elif data.startswith(b"PK\x03\x04"):
        kind = office_kind(checked_zip(data))
        if kind == "docx":
            text = docx_text(data)
            media_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        elif kind == "xlsx":
            text = xlsx_text(data)
            media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            raise Refused("unsupported_file")
    else:
        text, media_type = plain_text(data), "text/plain"
    return {"kind": "document", "media_type": media_type, "text": text[:TEXT_MAX_CHARS]}, b""


def main() -> int:
    data = sys.stdin.buffer.read()
    try:
        described, image = read(data)
    except Refused as refused:
        described, image = {"refused": refused.code}, b""
    except MemoryError:
        described, image = {"refused": "file_too_complex"}, b""
    # The text and the file to keep follow the header as raw bytes, and their digest is taken here:
    # the worker then decodes a short header, not megabytes of JSON.
    text = described.pop("text", "").encode("utf-8")
    kept = image or data
    if "refused" not in described:
        described.update(text_bytes=len(text), sha256=hashlib.sha256(kept).hexdigest())
    out = sys.stdout.buffer
    out.write(json.dumps(described).encode() + b"\n")
    out.write(text)
    out.write(image)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
