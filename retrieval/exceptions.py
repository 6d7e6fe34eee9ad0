"""Retrieval's domain errors, each with the HTTP status and `code` the API answers with."""

from __future__ import annotations

from rest_framework import status

from core.errors import DomainError


class RetrievalError(DomainError):
    """Base class of every retrieval error."""


class DocumentTooLarge(RetrievalError):
    """The upload is bigger than `MAX_UPLOAD_BYTES`, or holds more than `MAX_EXTRACTED_CHARS`
    of text or `MAX_PDF_PAGES` pages (HTTP 413). ``limit`` is the one it passed."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "too_large"

    def __init__(self, message: str, *, limit: int):
        super().__init__(message)
        self.limit = limit


class DocumentQuotaExceeded(RetrievalError):
    """Storing this upload would take its owner past `DOCUMENT_QUOTA_DOCUMENTS` or
    `DOCUMENT_QUOTA_BYTES` of private documents (HTTP 403); deleting some makes room."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "document_quota_exceeded"


class UnreadableDocument(RetrievalError):
    """The file is empty, encrypted, corrupt, of an unsupported type or a zip bomb (HTTP 400).

    The message says which, in words a person uploading the file can act on.
    """

    code = "unreadable_document"


class DocumentNotFound(RetrievalError):
    """No document with that id is visible to the caller (HTTP 404, never 403)."""

    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class SharingNotAllowed(RetrievalError):
    """Only staff may add to, or delete from, the shop-wide knowledge base (HTTP 403)."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "permission_denied"


class EmbedderMismatch(RetrievalError):
    """The index was built by another embedder or dimension than the configured one (HTTP 503).

    Vectors of two embedders are not comparable, so the index refuses to mix them; the message
    names both and says to run `manage.py rebuild_index`.
    """

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "index_embedder_mismatch"


class EmbedderNotConfigured(RetrievalError):
    """`EMBEDDER` names no known embedder (HTTP 503)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "embedder_not_configured"
