"""A client generated from `openapi.yaml` (openapi-python-client) registers, logs in, chats and
reads its orders against the real server: the contract is enough to build a client."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.live_server import LiveServer, live_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client_package(tmp_path: Path) -> Iterator[str]:
    generator = Path(sys.executable).with_name("openapi-python-client")
    subprocess.run(  # noqa: S603 - the generator from our own venv, fixed arguments
        [
            str(generator),
            "generate",
            "--path",
            str(ROOT / "openapi.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "tally_client"),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
    )
    sys.path.insert(0, str(tmp_path))
    yield "tally_client"
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m == "tally_client" or m.startswith("tally_client.")]:
        del sys.modules[name]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    env = {"LLM_PROVIDER": "local", "THROTTLE_CHAT": "1000/min", "ALLOWED_HOSTS": "127.0.0.1"}
    with live_server(env, log=tmp_path / "server.log") as running:
        yield running


@pytest.mark.django_db(transaction=True)
def test_a_generated_client_can_register_log_in_chat_and_read_orders(
    client_package: str, server: LiveServer
) -> None:
    call_command("load_demo", verbosity=0)
    api = importlib.import_module(f"{client_package}.api")
    models = importlib.import_module(f"{client_package}.models")
    clients = importlib.import_module(f"{client_package}.client")
    importlib.import_module(f"{client_package}.api.accounts.register")
    importlib.import_module(f"{client_package}.api.accounts.login")
    importlib.import_module(f"{client_package}.api.chat.chat_create")
    importlib.import_module(f"{client_package}.api.orders.orders_list")
    anonymous = clients.Client(base_url=server.url)

    registered = api.accounts.register.sync(
        client=anonymous,
        body=models.RegisterInputRequest(username="gen", password="correct-horse-42"),
    )
    token = api.accounts.login.sync(
        client=anonymous,
        body=models.LoginInputRequest(username="gen", password="correct-horse-42"),
    ).token
    authed = clients.AuthenticatedClient(base_url=server.url, token=token, prefix="Token")
    answer = api.chat.chat_create.sync(
        client=authed, body=models.ChatInputRequest(message="Two margheritas please")
    )
    confirmed = api.chat.chat_create.sync(
        client=authed,
        body=models.ChatInputRequest(message="confirm", conversation=answer.conversation),
    )
    orders = api.orders.orders_list.sync(client=authed)

    assert registered.tokens == 4000
    assert answer.tokens_remaining == 3900 and "Margherita" in answer.response
    assert confirmed.order.status == "confirmed"
    assert orders.count == 1 and orders.results[0].total == "17.00"
