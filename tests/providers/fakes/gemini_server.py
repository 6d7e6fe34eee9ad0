"""A fake Gemini API speaking the real REST format: ``models/{model}:generateContent``,
``:streamGenerateContent?alt=sse``, ``:embedContent`` and ``:batchEmbedContents``, with
functionCall parts, thought signatures, usageMetadata and google.rpc error bodies."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

from tests.providers.fakes.openai_server import fake_embedding
from tests.providers.fakes.server import FakeVendorServer, RecordedRequest, Reply, Response

_ROUTE = re.compile(r"^/(?P<version>v[^/]+)/models/(?P<model>[^:/]+):(?P<method>\w+)$")
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}


class FakeGemini(FakeVendorServer):
    """``base_url`` is what ``GEMINI_BASE_URL`` should be set to (the SDK adds the version).

    Set ``required_key`` to answer like Gemini does to a wrong ``x-goog-api-key``: 400
    INVALID_ARGUMENT with reason API_KEY_INVALID. ``retry_delay`` adds a google.rpc.RetryInfo
    to 429 bodies.
    """

    embedding_dimensions = 8

    def __init__(self, *, required_key: str | None = None) -> None:
        super().__init__()
        self.required_key = required_key
        self.retry_delay: str | None = None

    @property
    def base_url(self) -> str:
        return f"{self.origin}/"

    def generate_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if "enerateContent" in r.path]

    def handle(self, request: RecordedRequest, out: Response) -> None:
        route = _ROUTE.match(request.path)
        if request.method != "POST" or route is None:
            out.json(404, self._error_body(404, f"Unknown path {request.path}"))
            return
        key = request.headers.get("x-goog-api-key") or request.query.get("key", [""])[0]
        if self.required_key and key != self.required_key:
            body = self._error_body(400, "API key not valid. Please pass a valid API key.")
            body["error"]["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                }
            ]
            out.json(400, body)
            return
        method, model = route["method"], route["model"]
        if method in ("generateContent", "streamGenerateContent"):
            self._generate(request, out, model, stream=method == "streamGenerateContent")
        elif method == "embedContent":
            vector = fake_embedding(_text(request.json["content"]), self.embedding_dimensions)
            out.json(200, {"embedding": {"values": vector.tolist()}})
        elif method == "batchEmbedContents":
            texts = [_text(item["content"]) for item in request.json["requests"]]
            vectors = [fake_embedding(t, self.embedding_dimensions).tolist() for t in texts]
            out.json(200, {"embeddings": [{"values": v} for v in vectors]})
        else:
            out.json(404, self._error_body(404, f"Unknown method {method}"))

    def _generate(self, request: RecordedRequest, out: Response, model: str, stream: bool) -> None:
        reply = self.next_reply()
        self.sleep(reply.delay)
        if self.closing.is_set():
            return
        if reply.dropped:
            out.hang_up(reply.dropped)
            return
        if reply.status >= 300:
            out.json(reply.status, self._error_body(reply.status, reply.message), reply.headers)
        elif stream:
            out.sse(
                _chunks(reply, model), chunk_delay=reply.chunk_delay, fast_events=reply.fast_events
            )
        else:
            out.json(200, _response(reply, model, reply.text, calls=True, final=True))

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": _STATUS_NAMES.get(status, "UNKNOWN"),
        }
        if status == 429 and self.retry_delay:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": self.retry_delay,
                }
            ]
        return {"error": error}


def _text(content: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in content.get("parts", []))


def _response(
    reply: Reply, model: str, text: str, *, calls: bool, final: bool, completion_so_far: int = 0
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    if calls:
        for call in reply.tool_calls:
            function_call: dict[str, Any] = {"name": call.name, "args": call.arguments}
            if call.id:
                function_call["id"] = call.id
            part: dict[str, Any] = {"functionCall": function_call}
            if call.signature:
                part["thoughtSignature"] = base64.b64encode(call.signature).decode()
            parts.append(part)
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    prompt_tokens, completion_tokens = reply.usage or (0, 0)
    usage: dict[str, Any] = {"promptTokenCount": prompt_tokens}
    if final:
        candidate["finishReason"] = _FINISH_REASONS.get(reply.finish_reason or "stop", "STOP")
        usage["candidatesTokenCount"] = completion_tokens
        if reply.thinking_tokens:
            usage["thoughtsTokenCount"] = reply.thinking_tokens
    else:
        usage["candidatesTokenCount"] = completion_so_far
    usage["totalTokenCount"] = sum(v for k, v in usage.items() if k.endswith("Count"))
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": "fake-response",
    }


def _chunks(reply: Reply, model: str) -> Iterator[str]:
    """The SSE ``data`` payloads of one streamed answer; every chunk carries running usage."""
    pieces = reply.text_chunks()
    for number, piece in enumerate(pieces):
        if reply.error_after_chunks is not None and number == reply.error_after_chunks:
            yield json.dumps(
                {"error": {"code": 500, "message": "stream broke", "status": "INTERNAL"}}
            )
            return
        last = number == len(pieces) - 1 and not reply.tool_calls
        yield json.dumps(
            _response(reply, model, piece, calls=False, final=last, completion_so_far=number + 1)
        )
    if reply.tool_calls or not pieces:
        # Gemini sends function calls whole, in the closing chunk.
        yield json.dumps(_response(reply, model, "", calls=True, final=True))
