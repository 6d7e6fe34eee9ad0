"""The retrieval API: upload, list, read and delete documents; search them."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from core.body_limit import MULTIPART_SLACK
from core.errors import error_responses
from retrieval import selectors, services
from retrieval.exceptions import DocumentTooLarge
from retrieval.models import Document
from retrieval.serializers import DocumentOutput, DocumentUploadInput, SearchInput, SearchOutput
from retrieval.throttling import SearchRateThrottle, UploadRateThrottle

UPLOAD_DESCRIPTION = (
    "Upload a PDF, Word (.docx), text or Markdown file (multipart field `file`, at most "
    "`MAX_UPLOAD_BYTES`). The type is read from the content. The text is extracted at once "
    "(a bad file is a 400 and nothing is stored); chunking and indexing run as a background "
    "task, so `status` is `processing` until it is `ready` (or `failed`, with `error`). "
    "The same file uploaded again by the same user returns the existing document with 200. "
    "`shared: true` (staff only, else 403) adds it to the knowledge base everyone searches. "
    "A document may hold at most `MAX_EXTRACTED_CHARS` characters and a PDF `MAX_PDF_PAGES` "
    "pages (else 413); each user keeps at most `DOCUMENT_QUOTA_DOCUMENTS` private documents "
    "of `DOCUMENT_QUOTA_BYTES` in all (else 403 `document_quota_exceeded`; shared documents "
    "do not count), and uploads at most `THROTTLE_UPLOAD` (else 429)."
)


def _user(request: Request) -> AbstractBaseUser:
    return cast(AbstractBaseUser, request.user)


class DocumentListCreate(generics.ListAPIView):
    serializer_class = DocumentOutput
    parser_classes = (MultiPartParser,)

    def get_queryset(self) -> QuerySet[Document]:
        return selectors.documents_visible_to(user=_user(self.request))

    def get_throttles(self) -> list[BaseThrottle]:
        # Uploads only: listing costs nothing worth limiting.
        return [UploadRateThrottle()] if self.request.method == "POST" else []

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "user": self.request.user}

    @extend_schema(
        tags=["retrieval"],
        operation_id="documents_list",
        description="Your documents and the shared knowledge base, newest first; `mine` "
        "flags yours.",
        responses={200: DocumentOutput(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["retrieval"],
        operation_id="documents_create",
        request={"multipart/form-data": DocumentUploadInput},
        description=UPLOAD_DESCRIPTION,
        responses={
            201: DocumentOutput,
            200: OpenApiResponse(DocumentOutput, description="Already uploaded: that one."),
            **error_responses(400, 401, 403, 413, 415, 429),
        },
    )
    def post(self, request: Request) -> Response:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        limit = settings.MAX_UPLOAD_BYTES
        if declared.isdigit() and int(declared) > limit + MULTIPART_SLACK:
            # Refused before the body is read: no point spooling 2 GB to disk to say no.
            raise DocumentTooLarge(f"The upload exceeds the limit of {limit} bytes.", limit=limit)
        data = DocumentUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size > limit:
            raise DocumentTooLarge(
                f"The file is {upload.size} bytes; the limit is {limit} bytes.", limit=limit
            )
        document, created = services.document_upload(
            owner=_user(request),
            data=upload.read(),
            filename=upload.name or "",
            title=data.validated_data["title"],
            shared=data.validated_data["shared"],
        )
        body = DocumentOutput(document, context={"user": request.user}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class DocumentDetail(APIView):
    @extend_schema(
        tags=["retrieval"],
        operation_id="documents_retrieve",
        responses={200: DocumentOutput, **error_responses(401, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        document = selectors.document_get(user=_user(request), document_id=pk)
        return Response(DocumentOutput(document, context={"user": request.user}).data)

    @extend_schema(
        tags=["retrieval"],
        operation_id="documents_destroy",
        description="Delete a document with its chunks and vectors. Shared documents: staff.",
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def delete(self, request: Request, pk: int) -> Response:
        document = selectors.document_get(user=_user(request), document_id=pk)
        services.document_delete(document=document, by=_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SearchView(APIView):
    throttle_classes = (SearchRateThrottle,)

    @extend_schema(
        tags=["retrieval"],
        operation_id="search",
        parameters=[SearchInput],
        description="The `k` chunks most similar to `q` among the documents you may see "
        "(yours and the shared ones), best first. Chunks scoring under "
        "`RETRIEVAL_MIN_SCORE` are left out. At most `THROTTLE_SEARCH` per user (else 429).",
        responses={200: SearchOutput, **error_responses(400, 401, 429, 503)},
    )
    def get(self, request: Request) -> Response:
        data = SearchInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        query, k = data.validated_data["q"], data.validated_data["k"]
        hits = selectors.search(user=_user(request), query=query, k=k)
        return Response(SearchOutput({"query": query, "k": k, "results": hits}).data)
