"""A fake OpenAI (or OpenAI-compatible) server speaking the real wire format: chat completions as
JSON or SSE chunks ending in ``data: [DONE]``, tool calls, usage, embeddings and error bodies."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from tests.providers.fakes.server import (
    FakeToolCall,
    FakeVendorServer,
    RecordedRequest,
    Reply,
    Response,
)

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_denied",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


class FakeOpenAI(FakeVendorServer):
    """``base_url`` is what ``OPENAI_BASE_URL`` should be set to (it ends in ``/v1``).

    Set ``required_key`` to answer 401 to any other bearer token, like the real API.
    """

    embedding_dimensions = 8

    def __init__(self, *, required_key: str | None = None) -> None:
        super().__init__()
        self.required_key = required_key

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def handle(self, request: RecordedRequest, out: Response) -> None:
        if self.required_key and request.headers.get("authorization") != (
            f"Bearer {self.required_key}"
        ):
            out.json(401, _error_body(401, "Incorrect API key provided."))
            return
        if request.method == "POST" and request.path.endswith("/chat/completions"):
            self._chat(request, out)
        elif request.method == "POST" and request.path.endswith("/embeddings"):
            self._embeddings(request, out)
        else:
            out.json(404, _error_body(404, f"Unknown path {request.path}"))

    def _chat(self, request: RecordedRequest, out: Response) -> None:
        reply = self.next_reply()
        self.sleep(reply.delay)
        if self.closing.is_set():
            return
        if reply.dropped:
            out.hang_up(reply.dropped)
            return
        if reply.status >= 300:
            out.json(reply.status, _error_body(reply.status, reply.message), reply.headers)
            return
        body = request.json
        model = body.get("model", "gpt-fake")
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            out.sse(
                _chunks(reply, model, include_usage),
                chunk_delay=reply.chunk_delay,
                fast_events=reply.fast_events,
            )
        else:
            out.json(200, _completion(reply, model), reply.headers)

    def _embeddings(self, request: RecordedRequest, out: Response) -> None:
        body = request.json
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for index, text in enumerate(texts):
            vector = fake_embedding(text, self.embedding_dimensions)
            embedding: Any = vector.tolist()
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(vector.astype("<f4").tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(text.split()) for text in texts)
        out.json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def fake_embedding(text: str, dimensions: int) -> np.ndarray:
    """A deterministic unit vector for ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = np.frombuffer(digest * (dimensions // len(digest) + 1), dtype=np.uint8)[:dimensions]
    vector = raw.astype(np.float32) - 127.5
    return vector / np.linalg.norm(vector)


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "server_error"),
            "param": None,
            "code": None,
        }
    }


def _arguments(call: FakeToolCall) -> str:
    return call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)


def _call_id(call: FakeToolCall, index: int) -> str:
    return call.id or f"call_fake_{index}"


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _usage(reply: Reply) -> dict[str, int] | None:
    if reply.usage is None:  # a server that reports none (llama.cpp's, streaming)
        return None
    prompt, completion = reply.usage
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(call, index),
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments(call)},
            }
            for index, call in enumerate(reply.tool_calls)
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": _finish(reply), "logprobs": None}
        ],
        "usage": _usage(reply),
    }


def _chunks(reply: Reply, model: str, include_usage: bool) -> Iterator[str]:
    """The SSE ``data`` payloads of one streamed completion, in the order OpenAI sends them."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        payload: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if include_usage:
            payload["usage"] = None
        payload.update(extra)
        return json.dumps(payload)

    yield chunk({"role": "assistant", "content": ""})
    for number, piece in enumerate(reply.text_chunks()):
        if reply.error_after_chunks is not None and number == reply.error_after_chunks:
            yield json.dumps({"error": {"message": "stream interrupted", "type": "server_error"}})
            return
        yield chunk({"content": piece})
    for index, call in enumerate(reply.tool_calls):
        # The id and name come first with empty arguments, then the arguments in pieces.
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": _call_id(call, index),
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        arguments = _arguments(call)
        for start in range(0, len(arguments), 5):
            piece = arguments[start : start + 5]
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, _finish(reply))
    if include_usage and reply.usage is not None:
        yield json.dumps(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": _usage(reply),
            }
        )
    yield "[DONE]"
