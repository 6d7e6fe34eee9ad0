"""Uploaded bytes to text: the file type is read from the content, never trusted from the name.

Every way a file can be unusable (empty, encrypted, corrupt, a zip bomb, binary that is not
text) ends in `UnreadableDocument` with a reason a person can act on, never in a 500; one that
unpacks past the limits (`MAX_EXTRACTED_CHARS`, `MAX_PDF_PAGES`) in `DocumentTooLarge`.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

import docx
from django.conf import settings
from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError

from retrieval.exceptions import DocumentTooLarge, UnreadableDocument
from retrieval.models import Document

log = logging.getLogger(__name__)

_PDF_MAGIC = b"%PDF-"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc, and encrypted Office files
_DOCX_BODY = "word/document.xml"
# A DOCX is refused when it unpacks past `MAX_DOCX_UNPACKED_BYTES`, or when any member
# inflates by more than this ratio (text compresses ~10x; bombs ~1000x).
MAX_COMPRESSION_RATIO = 200
_READ_BLOCK = 64 * 1024
_MARKDOWN = re.compile(r"^(#{1,6} |```|> |[-*+] |\d+\. )|\]\(|\*\*\w", re.MULTILINE)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f]")


@dataclass(frozen=True)
class Extracted:
    kind: str
    text: str


def extract(data: bytes, *, filename: str) -> Extracted:
    """The document kind and its text; raises `UnreadableDocument` saying why it cannot be used,
    `DocumentTooLarge` when it holds more than the limits allow."""
    if not data.strip():
        raise UnreadableDocument("The file is empty.")
    suffix = PurePath(filename).suffix.lower()
    if _PDF_MAGIC in data[:1024]:
        text, kind = _pdf_text(data), Document.Kind.PDF
    elif data.startswith(_ZIP_MAGIC):
        text, kind = _docx_text(data), Document.Kind.DOCX
    elif data.startswith(_OLE_MAGIC):
        raise UnreadableDocument(
            "This is a legacy Word (.doc) or password-protected Office file; save it as an "
            "unprotected .docx or PDF and upload that."
        )
    elif suffix in {".pdf", ".docx"}:
        raise UnreadableDocument(
            f"The file is named {suffix} but its content is not a {suffix[1:].upper()} file."
        )
    else:
        text = _plain_text(data)
        kind = Document.Kind.MD if _looks_like_markdown(suffix, text) else Document.Kind.TXT
    text = _normalise(text)
    if not text.strip():
        raise UnreadableDocument(
            "The file contains no text that can be extracted (a scanned PDF needs OCR first)."
        )
    _refuse_long(len(text))
    return Extracted(kind=kind, text=text)


def _refuse_long(chars: int) -> None:
    limit = settings.MAX_EXTRACTED_CHARS
    if chars > limit:
        raise DocumentTooLarge(
            f"The document holds more than {limit} characters of text, the limit; split it "
            "into smaller documents.",
            limit=limit,
        )


def _pdf_text(data: bytes) -> str:
    # pypdf raises a zoo of errors on damaged files (PdfReadError, ValueError, KeyError, …);
    # any of them means the same thing to the uploader.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UnreadableDocument(
                "The PDF is password-protected; upload a copy without a password."
            )
        pages = len(reader.pages)
        if pages > settings.MAX_PDF_PAGES:
            raise DocumentTooLarge(
                f"The PDF has {pages} pages; the limit is {settings.MAX_PDF_PAGES}.",
                limit=settings.MAX_PDF_PAGES,
            )
        texts, chars = [], 0
        for page in reader.pages:
            texts.append(page.extract_text() or "")
            chars += len(texts[-1])
            _refuse_long(chars)  # at once, not after reading every page
        return "\n\n".join(texts)
    except (UnreadableDocument, DocumentTooLarge):
        raise
    except (FileNotDecryptedError, NotImplementedError) as exc:
        raise UnreadableDocument(
            "The PDF is encrypted in a way that cannot be opened; upload an unencrypted copy."
        ) from exc
    except Exception as exc:
        log.info("unreadable PDF: %s", exc)
        raise UnreadableDocument("The PDF is damaged or not a valid PDF file.") from exc


def _docx_text(data: bytes) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableDocument("The file looks like a ZIP archive but is damaged.") from exc
    if _DOCX_BODY not in {member.filename for member in members}:
        raise UnreadableDocument(
            "Unsupported file type: a ZIP archive that is not a Word document (.docx)."
        )
    _refuse_bombs(archive, members)
    try:
        document = docx.Document(io.BytesIO(data))
        parts = [paragraph.text for paragraph in document.paragraphs]
        for table in document.tables:
            for row in table.rows:
                parts.append(" | ".join(cell.text for cell in row.cells))
    except Exception as exc:  # python-docx and lxml raise many types
        log.info("unreadable DOCX: %s", exc)
        raise UnreadableDocument("The Word document is damaged and cannot be read.") from exc
    return "\n\n".join(part for part in parts if part.strip())


def _refuse_bombs(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> None:
    """Refuse archives that would inflate too far, before python-docx unpacks every part.

    First from the directory's declared sizes (nothing inflated yet), then by inflating each
    member block by block and counting, so a directory that understates a size cannot slip a
    larger part through: the count stops at the limit, whatever the headers say.
    """
    limit = settings.MAX_DOCX_UNPACKED_BYTES
    declared = sum(member.file_size for member in members)
    if declared > limit:
        raise UnreadableDocument(
            f"The document unpacks to {declared} bytes, more than the limit of {limit}; it is "
            "refused as a possible zip bomb."
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 1_000_000 and ratio > MAX_COMPRESSION_RATIO:
            raise UnreadableDocument(
                f"{member.filename} inflates {ratio:.0f} times; the document is refused as a "
                "possible zip bomb."
            )
    unpacked = 0
    try:
        for member in members:
            with archive.open(member) as part:
                while block := part.read(_READ_BLOCK):
                    unpacked += len(block)
                    if unpacked > limit:
                        raise UnreadableDocument(
                            f"The document unpacks to more than the limit of {limit} bytes; it "
                            "is refused as a possible zip bomb."
                        )
    except UnreadableDocument:
        raise
    except Exception as exc:  # zipfile and zlib: BadZipFile, zlib.error, EOFError, …
        log.info("unreadable DOCX archive: %s", exc)
        raise UnreadableDocument("The Word document is damaged and cannot be read.") from exc


def _plain_text(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(
            "Unsupported file type: upload a PDF, a Word document (.docx), or UTF-8 text or "
            "Markdown (this file is neither, or is text in another encoding)."
        ) from exc
    if "\x00" in text or len(_CONTROL.findall(text[:4096])) > 8:
        raise UnreadableDocument(
            "Unsupported file type: the file is binary, not text. Upload a PDF, a Word "
            "document (.docx), or UTF-8 text or Markdown."
        )
    return text


def _looks_like_markdown(suffix: str, text: str) -> bool:
    if suffix in {".md", ".markdown"}:
        return True
    if suffix == ".txt":
        return False
    return len(_MARKDOWN.findall(text[:20_000])) >= 2


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return re.sub(r"\n{3,}", "\n\n", text).strip()
