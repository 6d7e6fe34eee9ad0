"""Live chat over WebSocket (Django Channels): `ws/chat/` and `ws/chat/<conversation>/`.

A socket authenticates with an API token (the `tally.token.<key>` subprotocol, or a first
`{"type": "auth", "token": …}` message: never the URL, which ends up in logs), then sends
`{"type": "message", "message": …}`. Each message is a chat turn like `POST /api/chat/` with
`"stream": true` (`chat.serving`: the same charge, refund, idempotency and throttle), run in a
thread of its own; its events go through the channel layer to every socket the user has open
on that conversation, on any worker, so each device sees the question and the answer as it is
written. A turn outlives its socket: a client that hangs up mid-answer still has the answer
stored (or the charge refunded), and its other devices still see it.

Events carry `message`, `sender` and `timestamp` (what the Channels chat clients people
already have read), plus `type`: `ready`, `user` (the question, to the user's other sockets),
`delta`, `done` (with `chat`, the `POST /api/chat/` body), `error` (with `detail`, `code` and
`tokens_remaining`) and `pong`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import connections
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import exceptions

from accounts.authentication import TokenAuthentication
from accounts.models import User
from accounts.selectors import api_token_live
from billing.selectors import balance_of
from chat import idempotency, inflight, pipeline, serving, sockets
from chat.models import Conversation
from chat.serializers import ChatInput, ChatOutput
from chat.streaming import in_thread
from chat.throttling import ChatRateThrottle
from core.client_ip import client_ip
from core.errors import error_body
from core.errors import exception_handler as drf_error

log = logging.getLogger(__name__)
T = TypeVar("T")

# Close codes (4000-4999 are the application's own).
CLOSE_IDLE = 4000  # nothing from the client for WS_IDLE_TIMEOUT_S
CLOSE_UNAUTHENTICATED = 4001  # no token in time, a bad one, or one revoked or expired since
CLOSE_NOT_FOUND = 4004  # ws/chat/<id>/ of a conversation that is not the user's
CLOSE_TOO_MANY = 4029  # WS_MAX_SOCKETS_PER_USER open already

SUBPROTOCOL = "tally"
TOKEN_SUBPROTOCOL = "tally.token."  # noqa: S105 - a prefix; the key follows it

# Turns in flight, so a socket that closes does not take its running turn with it.
_turns: set[asyncio.Task[None]] = set()


def event(kind: str, sender: str, message: str, **fields: Any) -> dict[str, Any]:
    """One event as every socket receives it."""
    timestamp = timezone.now().isoformat().replace("+00:00", "Z")
    return {"type": kind, "message": message, "sender": sender, "timestamp": timestamp, **fields}


def error_event(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An `error` event from an error body of the API's (`detail`, `code`, …)."""
    return event("error", "system", str(body.get("detail", "")), **body, **fields)


def _done(body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    chat = json.loads(json.dumps(body))  # plain JSON types for any channel layer
    return event(
        "done",
        "assistant",
        chat["response"],
        conversation=chat["conversation"],
        chat=chat,
        **fields,
    )


def _failure(exc: BaseException, balance: int) -> dict[str, Any]:
    return error_event(error_body(exc)[1], tokens_remaining=balance)


# A turn as the socket writes it: `delta` events, then `done` (or `error`).
WIRE = serving.Wire[dict[str, Any]](
    body=lambda turn, answer: ChatOutput(answer).data,
    opening=lambda turn: iter(()),
    delta=lambda turn, text: event("delta", "assistant", text, conversation=turn.conversation_id),
    closing=lambda body: iter((_done(body),)),
    replay=lambda body: iter(
        (
            event("delta", "assistant", body["response"], conversation=body["conversation"]),
            _done(body, replayed=True),
        )
    ),
    failure=_failure,
)


def turn_events(
    *, user: User, data: dict[str, Any], key: Any, payload: Any, ip: str | None
) -> Iterator[dict[str, Any]]:
    """One message's turn, in the thread that runs it: `started` once charged (with the
    conversation), then the turn's events; any refusal is one `error` event."""
    try:
        claim = serving.claim_key(user, key, payload)
        if isinstance(claim, idempotency.Replay):
            yield from WIRE.replay(claim.body)
            return
        try:
            slot = inflight.take()
        except BaseException:
            if claim is not None:
                idempotency.release(claim)
            raise
        try:
            turn = pipeline.begin(
                user=user,
                text=data["message"],
                conversation_id=data.get("conversation"),
                provider=data.get("provider"),
                model=data.get("model"),
                client_ip=ip,
                streamed=True,
            )
        except BaseException:
            slot.release()
            if claim is not None:
                idempotency.release(claim)
            raise
        yield {"type": "started", "conversation": turn.conversation_id}
        yield from serving.events(turn, claim, slot, WIRE)
    except Exception as exc:  # noqa: BLE001 - every refusal is an event, never a dead task
        status, body = error_body(exc)
        if status >= 500 and body["code"] == "server_error":
            log.exception("chat over WebSocket failed")
        if isinstance(exc, exceptions.APIException):  # a field error from claim_key
            response = drf_error(exc, {})
            body = response.data if response is not None else body
        yield error_event(body, tokens_remaining=balance_of(user=user))


def _authenticate(token: str) -> tuple[User, int] | None:
    if not token.isascii():  # keys are hex; anything else cannot match
        return None
    try:
        user, api_token = TokenAuthentication().authenticate_credentials(token.encode())
    except exceptions.AuthenticationFailed:
        return None
    return user, api_token.pk


def _owns(user: User, conversation: int) -> bool:
    return Conversation.objects.filter(pk=conversation, user_id=user.pk).exists()


def _heartbeat(channel_name: str, token_id: int) -> bool:
    sockets.socket_seen(channel_name=channel_name)
    return api_token_live(token_id=token_id)


def _throttle_wait(user: User) -> float | None:
    """Seconds to wait when `THROTTLE_CHAT` refuses this user's message, else ``None``."""
    throttle = ChatRateThrottle()
    if throttle.allow_request(SimpleNamespace(user=user), None):  # type: ignore[arg-type]
        return None
    return throttle.wait() or 1.0


def db(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``function`` run on a thread of the default pool, not on the one thread every
    `thread_sensitive` call of the worker queues on (so one slow query, a busy SQLite writer or
    a pool at its limit, does not stall every socket), its connection handed back after each
    call: a pool thread outlives the call, and a connection it kept would be lost to the pool."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return sync_to_async(call, thread_sensitive=False)


class ChatConsumer(AsyncWebsocketConsumer):
    user: User | None = None
    token_id: int = 0
    conversation: int | None = None
    group: str | None = None
    registered = False
    closing = False
    watchdog: asyncio.Task[None] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels calls `disconnect` only for a close the client sends; a send to a client
        # already gone (uvicorn raises) ends the consumer without it, so clean up here too.
        self.moving = asyncio.Lock()  # group changes, one at a time
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._clean_up()

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self.active_at = self.seen_at = loop.time()
        self.authenticated = asyncio.Event()
        self.conversation = self.scope["url_route"]["kwargs"].get("conversation")
        offered = self.scope.get("subprotocols") or []
        await self.accept(SUBPROTOCOL if SUBPROTOCOL in offered else None)
        self.watchdog = asyncio.create_task(self._watch())
        tokens = [p[len(TOKEN_SUBPROTOCOL) :] for p in offered if p.startswith(TOKEN_SUBPROTOCOL)]
        if tokens:
            await self._authenticate(tokens[0])

    async def disconnect(self, code: int) -> None:
        await self._clean_up()

    async def _clean_up(self) -> None:
        """Forget this socket everywhere (once): its watchdog, its group, its `LiveSocket`."""
        self.closing = True
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        async with self.moving:
            if self.group is not None:
                group, self.group = self.group, None
                await self.channel_layer.group_discard(group, self.channel_name)
        if self.registered:
            self.registered = False
            await db(sockets.socket_closed)(channel_name=self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.active_at = asyncio.get_running_loop().time()
        if text_data is None:
            await self._error("parse_error", "Send JSON in text frames.")
            return
        if len(text_data.encode("utf-8", "surrogatepass")) > settings.MAX_REQUEST_BYTES:
            await self._error("request_too_large", "The message is too large.")
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            await self._error("parse_error", "The message is not valid JSON.")
            return
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self._send(event("pong", "system", "pong"))
        elif kind == "auth":
            token = content.get("token")
            if self.user is None:
                await self._authenticate(token if isinstance(token, str) else "")
            else:
                await self._error("already_authenticated", "This socket is authenticated.")
        elif self.user is None:
            await self._error("not_authenticated", 'Authenticate first: {"type": "auth", …}.')
        elif kind in ("message", "user"):  # "user": what Channels chat clients already send
            await self._message(content)
        elif kind == "follow":
            await self._follow_asked(content.get("conversation"))
        else:
            detail = f"Unknown message type {kind!r}: send message, follow, auth, ping."
            await self._error("unknown_type", detail)

    async def chat_event(self, message: dict[str, Any]) -> None:
        """An event of a conversation this socket follows, from any worker."""
        if message.get("skip") != self.channel_name:
            await self._send(message["event"])

    # --- the socket's life ---------------------------------------------------------------------

    async def _authenticate(self, token: str) -> None:
        found = await db(_authenticate)(token) if token else None
        if found is None:
            await self._close(CLOSE_UNAUTHENTICATED, "invalid token")
            return
        user, token_id = found
        if self.conversation is not None and not await db(_owns)(user, self.conversation):
            await self._close(CLOSE_NOT_FOUND, "conversation not found")
            return
        if self.closing:  # the client left while we checked
            return
        if not await db(sockets.socket_open)(user=user, channel_name=self.channel_name):
            await self._close(CLOSE_TOO_MANY, "too many sockets")
            return
        self.user, self.token_id, self.registered = user, token_id, True
        if self.closing:  # left meanwhile: `_clean_up` ran before the row existed
            await self._clean_up()
            return
        self.authenticated.set()
        if self.conversation is not None:
            await self._follow(self.conversation)
        ready = f"Connected as {user.get_username()}."
        await self._send(
            event(
                "ready",
                "system",
                ready,
                conversation=self.conversation,
                idle_timeout=settings.WS_IDLE_TIMEOUT_S,
            )
        )

    async def _watch(self) -> None:
        """Close a socket that never authenticates, goes idle, or whose token stops being
        good; keep its `LiveSocket` row fresh meanwhile."""
        try:
            await asyncio.wait_for(self.authenticated.wait(), settings.WS_AUTH_TIMEOUT_S)
        except TimeoutError:
            await self._close(CLOSE_UNAUTHENTICATED, "not authenticated")
            return
        loop = asyncio.get_running_loop()
        while not self.closing:
            now = loop.time()
            if now - self.active_at >= settings.WS_IDLE_TIMEOUT_S:
                await self._close(CLOSE_IDLE, "idle")
                return
            if now - self.seen_at >= settings.WS_HEARTBEAT_S:
                self.seen_at = now
                try:
                    alive = await db(_heartbeat)(self.channel_name, self.token_id)
                except Exception:  # the database is away: try again next heartbeat
                    log.warning("WebSocket heartbeat failed", exc_info=True)
                    alive = True
                if not alive:
                    await self._close(CLOSE_UNAUTHENTICATED, "token revoked or expired")
                    return
            wake = min(
                self.active_at + settings.WS_IDLE_TIMEOUT_S,
                self.seen_at + settings.WS_HEARTBEAT_S,
            )
            await asyncio.sleep(max(wake - loop.time(), 0.05))

    async def _follow(self, conversation: int) -> None:
        """Receive this conversation's events (and no longer another's)."""
        group = f"chat.conversation.{conversation}"
        async with self.moving:
            self.conversation = conversation
            if group == self.group or self.closing:
                return
            if self.group is not None:
                await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = group
            await self.channel_layer.group_add(group, self.channel_name)

    async def _unfollow(self) -> None:
        async with self.moving:
            self.conversation = None
            if self.group is not None:
                group, self.group = self.group, None
                await self.channel_layer.group_discard(group, self.channel_name)

    async def _follow_asked(self, conversation: Any) -> None:
        """`{"type": "follow", "conversation": <id or null>}`: see that conversation's events
        from now on (none: a new chat, whose first message picks its conversation)."""
        if conversation is None:
            await self._unfollow()
        elif (
            isinstance(conversation, bool)
            or not isinstance(conversation, int)
            or not 1 <= conversation < 2**63
        ):
            await self._error("invalid", "conversation must be an id or null.")
            return
        elif not await db(_owns)(self.user, conversation):
            await self._error("not_found", f"Conversation {conversation} not found.")
            return
        else:
            await self._follow(conversation)
        following = f"Following conversation {conversation}." if conversation else "A new chat."
        await self._send(event("following", "system", following, conversation=conversation))

    async def _close(self, code: int, reason: str) -> None:
        if not self.closing:
            self.closing = True
            try:
                await self.close(code=code, reason=reason)
            except (OSError, RuntimeError):  # the client is gone already
                pass

    async def _send(self, payload: dict[str, Any]) -> None:
        if self.closing:
            return
        try:
            await self.send(text_data=json.dumps(payload, separators=(",", ":")))
        except (OSError, RuntimeError):  # the client is gone (uvicorn's ClientDisconnected)
            self.closing = True

    async def _error(self, code: str, detail: str, **fields: Any) -> None:
        await self._send(error_event({"detail": detail, "code": code, **fields}))

    # --- a message ------------------------------------------------------------------------------

    async def _message(self, content: dict[str, Any]) -> None:
        user = self.user
        if user is None:  # pragma: no cover - receive() checks first
            return
        turn = content.get("id")
        turn = turn if isinstance(turn, str) and 0 < len(turn) <= 64 else uuid.uuid4().hex
        fields = ("message", "conversation", "provider", "model")
        data = ChatInput(data={name: content[name] for name in fields if name in content})
        if not data.is_valid():
            response = drf_error(exceptions.ValidationError(data.errors), {})
            body = response.data if response is not None else {}
            balance = await db(balance_of)(user=user)
            await self._send(error_event(body, turn=turn, tokens_remaining=balance))
            return
        chat = dict(data.validated_data)
        if "conversation" not in content:
            chat["conversation"] = self.conversation
        if not await db(api_token_live)(token_id=self.token_id):
            await self._close(CLOSE_UNAUTHENTICATED, "token revoked or expired")
            return
        wait = await db(_throttle_wait)(user)
        if wait is not None:
            retry_after = max(int(wait + 0.999), 1)
            balance = await db(balance_of)(user=user)
            await self._error(
                "throttled",
                "Too many messages; slow down.",
                retry_after=retry_after,
                turn=turn,
                tokens_remaining=balance,
            )
            return
        request = HttpRequest()
        request.META = {"REMOTE_ADDR": (self.scope.get("client") or ("", 0))[0]}
        for name, value in self.scope.get("headers", []):
            if name == b"x-forwarded-for":
                request.META["HTTP_X_FORWARDED_FOR"] = value.decode("latin-1")
        events = turn_events(
            user=user,
            data=chat,
            key=content.get("idempotency_key"),
            # What the client sent: a retry on a socket that has since moved to the new
            # conversation is the same request.
            payload={name: content.get(name) for name in fields},
            ip=client_ip(request) or None,
        )
        task = asyncio.create_task(self._relay(events, chat["message"], turn))
        _turns.add(task)
        task.add_done_callback(_turns.discard)

    async def _relay(self, events: Iterator[dict[str, Any]], question: str, turn: str) -> None:
        """Hand a turn's events to the socket that asked (whatever it follows by then) and to
        every other socket on the turn's conversation, each tagged with ``turn``. Keeps going
        when the asking socket closes; a failing channel layer costs the other sockets their
        copy, never the turn."""
        group = None
        async for item in in_thread(events):
            if item["type"] == "started":
                group = f"chat.conversation.{item['conversation']}"
                if self.conversation is None and not self.closing:  # its new conversation
                    await self._follow(item["conversation"])
                    following = f"Following conversation {item['conversation']}."
                    await self._send(
                        event("following", "system", following, conversation=item["conversation"])
                    )
                item = event("user", "user", question, conversation=item["conversation"])
            else:
                await self._send({**item, "turn": turn})
            if group is not None:
                try:
                    await self.channel_layer.group_send(
                        group,
                        {
                            "type": "chat.event",
                            "event": {**item, "turn": turn},
                            "skip": self.channel_name,
                        },
                    )
                except Exception:  # noqa: BLE001 - the asker has its copy; the turn goes on
                    log.warning("could not relay a chat event to %s", group, exc_info=True)
