"""Chat over WebSocket, through Channels' own test client against the real routing: the
handshake and its close codes, a turn's events on every socket of the conversation, the same
billing and idempotency as `POST /api/chat/`, and every refusal as an `error` event."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from channels.testing.websocket import WebsocketCommunicator

from accounts import services as accounts
from accounts.models import ApiToken, User
from billing import services as billing
from billing.models import LedgerEntry
from billing.selectors import balance_of
from chat.consumers import db
from chat.models import Conversation, LiveSocket, Message
from config.asgi import routes
from tests.chat.test_live_streaming import wait_for
from tests.providers.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db(transaction=True)  # the turns run in threads of their own

Scenario = Callable[[], Awaitable[None]]


@pytest.fixture(autouse=True)
def _turns_finish() -> Iterator[None]:
    """A turn outlives its socket: let every turn's thread finish before the test's database
    goes (a thread still storing an answer would find the database gone)."""
    yield
    wait_for(lambda: not any(t.name == "chat-stream" for t in threading.enumerate()))


def run(scenario: Scenario) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


def token_of(user: User) -> str:
    return accounts.token_issue(user=user).key


async def connect(
    token: str | None, path: str = "/ws/chat/", *, ready: bool = True
) -> WebsocketCommunicator:
    protocols = ["tally", f"tally.token.{token}"] if token else ["tally"]
    socket = WebsocketCommunicator(routes, path, subprotocols=protocols)
    connected, subprotocol = await socket.connect()
    assert connected and subprotocol == "tally"
    if token and ready:
        assert (await receive(socket))["type"] == "ready"
    return socket


async def receive(socket: WebsocketCommunicator, timeout: float = 10) -> dict[str, Any]:
    return json.loads(await socket.receive_from(timeout=timeout))


async def until(socket: WebsocketCommunicator, kind: str) -> list[dict[str, Any]]:
    """Every event of a turn up to and including the first of ``kind`` (or an error),
    leaving out `following` (the socket moving to a new conversation)."""
    events = [await receive(socket)]
    while events[-1]["type"] not in (kind, "error"):
        events.append(await receive(socket))
    return [e for e in events if e["type"] != "following"]


async def closed_with(socket: WebsocketCommunicator, timeout: float = 10) -> int:
    output = await socket.receive_output(timeout=timeout)
    while output["type"] != "websocket.close":
        output = await socket.receive_output(timeout=timeout)
    return int(output["code"])


def charges(user: User) -> list[int]:
    entries = LedgerEntry.objects.filter(wallet__user=user).exclude(
        kind=LedgerEntry.Kind.SIGNUP_GRANT
    )
    return list(entries.order_by("id").values_list("delta", flat=True))


def test_a_message_is_answered_on_every_socket_of_the_conversation(user: User) -> None:
    token = token_of(user)

    async def scenario() -> None:
        asking = await connect(token)
        await asking.send_json_to({"type": "message", "message": "Hello! My name is John."})
        following = await receive(asking)
        first = await until(asking, "done")
        conversation = first[-1]["conversation"]
        watching = await connect(token, f"/ws/chat/{conversation}/")

        await asking.send_json_to({"type": "message", "message": "What did I just say?"})
        asked, seen = await until(asking, "done"), await until(watching, "done")

        assert (following["type"], following["conversation"]) == ("following", conversation)
        assert [e["type"] for e in first[:-1]] == ["delta"] * (len(first) - 1)
        assert "".join(e["message"] for e in first[:-1]) == first[-1]["message"]
        assert asked[0]["type"] == "delta"  # the asker is not echoed its own question
        assert seen[0] == {**seen[0], "type": "user", "message": "What did I just say?"}
        assert [e for e in seen[1:]] == asked  # the same deltas and done, live
        done = asked[-1]
        assert done["sender"] == "assistant" and done["timestamp"].endswith("Z")
        assert done["chat"]["conversation"] == conversation
        assert done["chat"]["tokens_remaining"] == 4000 - 200
        assert "Hello! My name is John." in done["message"]
        await asking.disconnect()
        await watching.disconnect()

    run(scenario)
    assert charges(user) == [-100, -100]
    assert Message.objects.filter(role="assistant", status="ok").count() == 2


def test_a_token_in_the_first_message_authenticates_and_seed_clients_can_chat(
    user: User,
) -> None:
    token = token_of(user)

    async def scenario() -> None:
        socket = await connect(None)
        await socket.send_json_to({"type": "message", "message": "Hi"})
        refused = await receive(socket)
        await socket.send_json_to({"type": "auth", "token": token})
        ready = await receive(socket)
        await socket.send_json_to({"message": "Hello", "type": "user"})  # seed 001's shape
        events = await until(socket, "done")
        await socket.disconnect()

        assert (refused["type"], refused["code"]) == ("error", "not_authenticated")
        assert ready == {**ready, "type": "ready", "sender": "system"}
        assert events[-1]["type"] == "done"

    run(scenario)
    assert charges(user) == [-100]


@pytest.mark.parametrize("how", ["no token in time", "a bad token", "a revoked token"])
def test_a_socket_without_a_good_token_is_closed_4001(user: User, settings: Any, how: str) -> None:
    settings.WS_AUTH_TIMEOUT_S = 1
    token = token_of(user)

    async def scenario() -> None:
        if how == "no token in time":
            socket = await connect(None)
        elif how == "a bad token":
            socket = await connect("0" * 64, ready=False)
        else:
            socket = await connect(token)
            await db(lambda: ApiToken.objects.all().delete())()
            await socket.send_json_to({"type": "message", "message": "Hi"})
        assert await closed_with(socket) == 4001

    run(scenario)
    assert charges(user) == []


def test_someone_elses_conversation_is_closed_4004(user: User, make_user: Any) -> None:
    other = make_user("mallory")
    theirs = Conversation.objects.create(user=other, title="private")
    token = token_of(user)

    async def scenario() -> None:
        socket = await connect(token, f"/ws/chat/{theirs.pk}/", ready=False)
        assert await closed_with(socket) == 4004

    run(scenario)


def test_sockets_past_the_limit_are_closed_4029_and_free_places_when_they_close(
    user: User, settings: Any
) -> None:
    settings.WS_MAX_SOCKETS_PER_USER = 2
    token = token_of(user)

    async def scenario() -> None:
        first, second = await connect(token), await connect(token)
        third = await connect(token, ready=False)
        assert await closed_with(third) == 4029
        await first.disconnect()
        fourth = await connect(token)
        await second.disconnect()
        await fourth.disconnect()

    run(scenario)
    assert not LiveSocket.objects.exists()


def test_an_idle_socket_is_closed_4000_and_pings_keep_it_open(user: User, settings: Any) -> None:
    settings.WS_IDLE_TIMEOUT_S = 1
    token = token_of(user)

    async def scenario() -> None:
        socket = await connect(token)
        for _ in range(3):
            await asyncio.sleep(0.5)
            await socket.send_json_to({"type": "ping"})
            assert (await receive(socket))["type"] == "pong"
        assert await closed_with(socket, timeout=3) == 4000

    run(scenario)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "parse_error"),
        ('["a", "list"]', "unknown_type"),
        ('{"type": "shout"}', "unknown_type"),
        ('{"type": "message"}', "invalid"),
        ('{"type": "message", "message": "hi", "conversation": "seven"}', "invalid"),
        ('{"type": "message", "message": "hi", "model": "gpt-9"}', "model_not_allowed"),
        ('{"type": "message", "message": "hi", "idempotency_key": ""}', "invalid"),
    ],
)
def test_bad_input_is_an_error_event_and_the_socket_stays_open(
    user: User, frame: str, code: str
) -> None:
    token = token_of(user)

    async def scenario() -> None:
        socket = await connect(token)
        await socket.send_to(text_data=frame)
        error = await receive(socket)
        await socket.send_json_to({"type": "ping"})
        pong = await receive(socket)
        await socket.disconnect()

        assert (error["type"], error["code"], error["sender"]) == ("error", code, "system")
        assert error["message"] == error["detail"]
        assert pong["type"] == "pong"

    run(scenario)
    assert charges(user) == []
    assert not Message.objects.exists()


def test_a_message_over_the_length_limit_names_the_field(user: User, settings: Any) -> None:
    settings.CHAT_MAX_CHARS = 10
    token = token_of(user)

    async def scenario() -> None:
        socket = await connect(token)
        await socket.send_json_to({"type": "message", "message": "x" * 11})
        error = await receive(socket)
        await socket.disconnect()
        assert (error["code"], list(error["errors"])) == ("invalid", ["message"])

    run(scenario)


def test_an_empty_wallet_and_the_throttle_are_error_events(user: User, settings: Any) -> None:
    billing.charge(user=user, amount=3950, reference="test:nearly-empty")
    token = token_of(user)

    async def scenario() -> None:
        socket = await connect(token)
        await socket.send_json_to({"type": "message", "message": "Hi"})
        empty = await receive(socket)
        settings.THROTTLE_CHAT = "1/min"
        await socket.send_json_to({"type": "message", "message": "Hi"})
        throttled = await receive(socket)
        await socket.disconnect()

        assert (empty["code"], empty["tokens"], empty["required"]) == (
            "insufficient_tokens",
            50,
            100,
        )
        assert empty["tokens_remaining"] == 50
        assert throttled["code"] == "throttled" and throttled["retry_after"] >= 1

    run(scenario)
    assert charges(user) == [-3950]


def test_an_idempotency_key_replays_the_first_answer_uncharged(user: User) -> None:
    token = token_of(user)
    message = {"type": "message", "message": "Hello", "idempotency_key": "k-1"}

    async def scenario() -> None:
        socket = await connect(token)
        await socket.send_json_to(message)
        first = await until(socket, "done")
        await socket.send_json_to(message)
        again = await until(socket, "done")
        await socket.disconnect()

        assert again[-1]["replayed"] is True
        assert again[-1]["chat"] == first[-1]["chat"]

    run(scenario)
    assert charges(user) == [-100]


def test_an_answer_is_stored_and_charged_once_when_its_socket_closes_midway(
    user: User, settings: Any
) -> None:
    token = token_of(user)
    with FakeOpenAI() as fake:
        settings.LLM_PROVIDER = "openai"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_MODEL = "gpt-fake"
        fake.enqueue(Reply.answer("one two three four five", chunk_delay=0.2))

        async def scenario() -> None:
            socket = await connect(token)
            await socket.send_json_to({"type": "message", "message": "Count"})
            assert (await receive(socket))["type"] == "following"
            assert (await receive(socket))["type"] == "delta"
            await socket.disconnect()

        run(scenario)
        answer = wait_for(lambda: Message.objects.filter(role="assistant").first())
    assert answer is not None and answer.content == "one two three four five"
    assert charges(user) == [-100]


def test_fifty_sockets_with_ten_chats_affordable_get_ten_answers(user: User, settings: Any) -> None:
    settings.WS_MAX_SOCKETS_PER_USER = 50
    settings.THROTTLE_CHAT = "1000/min"
    billing.charge(user=user, amount=3000, reference="test:leave-ten")
    token = token_of(user)

    async def one(n: int) -> str:
        socket = await connect(token)
        await socket.send_json_to({"type": "message", "message": f"Hi {n}"})
        last = (await until(socket, "done"))[-1]
        await socket.disconnect()
        return "done" if last["type"] == "done" else last["code"]

    async def scenario() -> None:
        outcomes = await asyncio.gather(*(one(n) for n in range(50)))
        assert sorted(outcomes) == ["done"] * 10 + ["insufficient_tokens"] * 40

    run(scenario)
    assert balance_of(user=user) == 0
    assert charges(user) == [-3000, *[-100] * 10]


def test_a_socket_follows_the_conversation_it_asks_for(user: User, make_user: Any) -> None:
    token = token_of(user)
    mine = Conversation.objects.create(user=user, title="mine")
    theirs = Conversation.objects.create(user=make_user("mallory"), title="theirs")

    async def scenario() -> None:
        asking, watching = await connect(token), await connect(token)
        await watching.send_json_to({"type": "follow", "conversation": theirs.pk})
        refused = await receive(watching)
        await watching.send_json_to({"type": "follow", "conversation": mine.pk})
        following = await receive(watching)
        await asking.send_json_to({"type": "message", "message": "Hi", "conversation": mine.pk})
        seen = await until(watching, "done")
        await watching.send_json_to({"type": "follow", "conversation": None})
        assert (await receive(watching))["conversation"] is None
        await asking.send_json_to({"type": "message", "message": "Again"})
        await until(asking, "done")
        await watching.send_json_to({"type": "ping"})
        after = await receive(watching)
        await asking.disconnect()
        await watching.disconnect()

        assert refused["code"] == "not_found"
        assert (following["type"], following["conversation"]) == ("following", mine.pk)
        assert seen[0]["type"] == "user" and seen[-1]["chat"]["conversation"] == mine.pk
        assert after["type"] == "pong"  # nothing of the other conversation came first

    run(scenario)


def test_two_turns_on_one_socket_are_both_answered_each_under_its_id(user: User) -> None:
    token = token_of(user)

    async def scenario() -> None:
        socket = await connect(token)
        for text, id_ in (("Hello", "first"), ("Hi again", "second")):  # two new chats
            await socket.send_json_to(
                {"type": "message", "message": text, "id": id_, "conversation": None}
            )
        done: dict[str, dict[str, Any]] = {}
        while len(done) < 2:
            event = await receive(socket)
            if event["type"] == "done":
                done[event["turn"]] = event
        await socket.disconnect()

        assert set(done) == {"first", "second"}
        assert done["first"]["chat"]["message"] == "Hello"
        assert done["second"]["chat"]["message"] == "Hi again"
        assert done["first"]["conversation"] != done["second"]["conversation"]

    run(scenario)
    assert charges(user) == [-100, -100]


@pytest.mark.parametrize(
    "frame", ["[" * 5000 + "]" * 5000, '{"type": "auth", "token": "\\ud800"}'], ids=["deep", "bad"]
)
def test_hostile_frames_are_answered_not_crashed_on(user: User, frame: str) -> None:
    async def scenario() -> None:
        socket = await connect(None)
        await socket.send_to(text_data=frame)
        output = await socket.receive_output(timeout=10)
        if output["type"] == "websocket.send":
            assert json.loads(output["text"])["code"] == "parse_error"
        else:
            assert output == {**output, "type": "websocket.close", "code": 4001}

    run(scenario)


def test_an_id_past_what_the_database_holds_is_refused_not_crashed_on(user: User) -> None:
    token = token_of(user)
    huge = 2**70

    async def scenario() -> None:
        socket = await connect(token)
        await socket.send_json_to({"type": "follow", "conversation": huge})
        followed = await receive(socket)
        await socket.send_json_to({"type": "message", "message": "Hi", "conversation": huge})
        asked = await receive(socket)
        await socket.disconnect()

        assert (followed["code"], asked["code"]) == ("invalid", "invalid")
        assert list(asked["errors"]) == ["conversation"]

    run(scenario)
