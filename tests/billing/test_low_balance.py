"""Low-balance alerts: a charge crossing `LOW_BALANCE_THRESHOLD` sends one signed webhook (to a
real HTTP server here) and one email, retried while the receiver fails, once per crossing until
a top-up re-arms it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail

from accounts import services as accounts
from accounts.models import User
from billing import services as billing
from billing.alerts import signature
from billing.models import Wallet
from tests.chat.test_live_streaming import wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # alerts go out after the commit

SECRET = "whsec-test"


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 answering each POST with the next status (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    settings.LOW_BALANCE_THRESHOLD = 500
    settings.LOW_BALANCE_WEBHOOK_URL = f"http://127.0.0.1:{server.server_address[1]}/hook"
    settings.LOW_BALANCE_WEBHOOK_SECRET = SECRET
    settings.LOW_BALANCE_WEBHOOK_BACKOFF_S = 0.05
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join()


def shopper() -> User:
    user, _ = accounts.user_register(
        username="dora", password="s3cret-pass-word", email="dora@example.com"
    )
    return user


def verified(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The payload, after checking the signature as a receiver would."""
    fields = dict(part.split("=", 1) for part in headers["X-Tally-Signature"].split(","))
    signed = f"{fields['t']}.".encode() + body
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    assert abs(time.time() - int(fields["t"])) < 60
    return json.loads(body)


def test_crossing_the_threshold_alerts_once_until_a_top_up_re_arms_it(
    receiver: Receiver,
) -> None:
    user = shopper()
    billing.charge(user=user, amount=3400)  # 600: still over
    time.sleep(0.2)
    assert receiver.received == []

    billing.charge(user=user, amount=200)  # 400: crossed
    wait_for(lambda: len(receiver.received) == 1)
    billing.charge(user=user, amount=100)  # 300: already alerted
    billing.refund(user=user, amount=300)  # 600: a refund does not re-arm
    billing.charge(user=user, amount=200)  # 400
    time.sleep(0.2)
    assert len(receiver.received) == 1

    billing.top_up(user=user, amount=1000, by=User.objects.create_superuser("boss", "", "pw"))
    billing.charge(user=user, amount=1100)  # 300: crossed again
    wait_for(lambda: len(receiver.received) == 2)

    first, second = (verified(headers, body) for headers, body in receiver.received)
    assert first == {**first, "type": "wallet.low_balance", "balance": 400, "threshold": 500}
    assert first["user"] == {"id": user.pk, "username": "dora"}
    assert second["balance"] == 300
    assert [m.to for m in mail.outbox] == [["dora@example.com"], ["dora@example.com"]]
    assert "400 tokens" in mail.outbox[0].body


def test_a_failing_receiver_is_tried_again_with_the_same_alert(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    user = shopper()

    billing.charge(user=user, amount=3800)

    wait_for(lambda: len(receiver.received) == 3)
    payloads = [verified(headers, body) for headers, body in receiver.received]
    assert [p["attempt"] for p in payloads] == [1, 2, 3]
    assert {p["balance"] for p in payloads} == {200}
    assert len(mail.outbox) == 1  # the email goes once


def test_two_charges_crossing_at_once_alert_once(receiver: Receiver) -> None:
    user = shopper()
    billing.charge(user=user, amount=3000)
    start = threading.Barrier(2)

    def spend() -> None:
        start.wait()
        billing.charge(user=user, amount=300)

    threads = [threading.Thread(target=spend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    wait_for(lambda: receiver.received)
    time.sleep(0.3)
    assert len(receiver.received) == 1
    assert Wallet.objects.get(pk=user.pk).low_balance_alerted


def test_the_signature_is_stripes_scheme() -> None:
    body = b'{"a":1}'

    value = signature(body, timestamp=1700000000, secret="k")

    digest = hmac.new(b"k", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert value == f"t=1700000000,v1={digest}"


def test_a_webhook_without_a_secret_fails_the_system_check(settings: Any) -> None:
    from billing.apps import check_webhook

    settings.LOW_BALANCE_WEBHOOK_URL = "https://hooks.example.com/tally"
    settings.LOW_BALANCE_WEBHOOK_SECRET = ""

    assert [m.id for m in check_webhook()] == ["billing.E001"]
    settings.LOW_BALANCE_WEBHOOK_SECRET = "s3cret"
    assert check_webhook() == []
