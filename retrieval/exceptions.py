"""Retrieval's domain errors; `config.errors` maps them to HTTP."""

from __future__ import annotations


class RetrievalError(Exception):
    """Base class of every retrieval error."""


class DocumentTooLarge(RetrievalError):
    """The upload is bigger than `MAX_UPLOAD_BYTES` (HTTP 413)."""

    def __init__(self, message: str, *, limit: int):
        super().__init__(message)
        self.limit = limit


class UnreadableDocument(RetrievalError):
    """The file is empty, encrypted, corrupt, of an unsupported type or a zip bomb (HTTP 400).

    The message says which, in words a person uploading the file can act on.
    """


class DocumentNotFound(RetrievalError):
    """No document with that id is visible to the caller (HTTP 404, never 403)."""


class SharingNotAllowed(RetrievalError):
    """Only staff may add to, or delete from, the shop-wide knowledge base (HTTP 403)."""


class EmbedderMismatch(RetrievalError):
    """The index was built by another embedder or dimension than the configured one (HTTP 503).

    Vectors of two embedders are not comparable, so the index refuses to mix them; the message
    names both and says to run `manage.py rebuild_index`.
    """


class EmbedderNotConfigured(RetrievalError):
    """`EMBEDDER` names no known embedder (HTTP 503)."""
