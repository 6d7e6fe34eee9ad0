"""Small documents made by the tests themselves: real PDFs, Word files and zip bombs."""

from __future__ import annotations

import io
import random
import struct
import zipfile

import docx
from pypdf import PdfReader, PdfWriter

PDF_PASSWORD = "s3cret"


def make_pdf(*pages: str) -> bytes:
    """A valid PDF with one page per argument, each line of it drawn as text in Helvetica."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, once the page numbers are known
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    kids = []
    for text in pages:
        lines = " T* ".join(f"({_escape(line)}) Tj" for line in text.splitlines())
        stream = f"BT /F1 11 Tf 14 TL 72 720 Td {lines} ET".encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % content
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return out


def make_encrypted_pdf(text: str, *, password: str = PDF_PASSWORD) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(text))))
    writer.encrypt(user_password=password, algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_docx(*paragraphs: str, table: list[list[str]] | None = None) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table, strict=True):
            for cell, value in zip(row.cells, values, strict=True):
                cell.text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_docx_bomb(*, inflated_bytes: int) -> bytes:
    """A DOCX-shaped zip with one member of zeros that inflates to ``inflated_bytes``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/media/padding.bin", bytes(inflated_bytes))
    return buffer.getvalue()


def make_docx_padded(*, unpacked_bytes: int, member: str = "customXml/item9.xml") -> bytes:
    """A real DOCX with one more XML part of ``unpacked_bytes`` that compresses only ~100x, so
    no compression ratio gives it away: small to build and upload, large once unpacked."""
    rng = random.Random(26)  # filler, not secrets
    buffer = io.BytesIO(make_docx("A padded document."))
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open(member, "w", force_zip64=True) as part:
            written = 0
            while written < unpacked_bytes:
                # 4 KiB of XML whose 24 random hex digits deflate cannot squeeze away.
                block = b"".join(
                    b"<w:t>" + rng.randbytes(12).hex().encode() + b"</w:t>" + b" " * 4056
                    for _ in range(256)
                )[: unpacked_bytes - written]
                part.write(block)
                written += len(block)
    return buffer.getvalue()


def make_docx_with_a_lying_directory(*, actual_bytes: int, declared_bytes: int) -> bytes:
    """A DOCX whose extra part inflates to ``actual_bytes`` while its local and central
    headers both claim ``declared_bytes``."""
    name = b"customXml/item9.xml"
    buffer = io.BytesIO(make_docx("A document that lies about its size."))
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name.decode(), b"<x>" + b" " * (actual_bytes - 7) + b"</x>")
    data = bytearray(buffer.getvalue())
    # Local header: signature, then the uncompressed size at offset 22; central: offset 24.
    for signature, offset, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + name_at : start + name_at + len(name)] == name:
                data[start + offset : start + offset + 4] = struct.pack("<I", declared_bytes)
            start += 4
    return bytes(data)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
