"""A chat's response body is what the documented `ChatOutput` serializer makes of the answer:
plain JSON, every field of the answer, nothing shared with it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from rest_framework.renderers import JSONRenderer

from chat.models import Message
from chat.pipeline import Answer
from chat.serializers import ChatOutput
from orders import services
from orders.models import Product
from orders.selectors import order_summary
from tests.orders.conftest import CATALOG


def _answer(**changes: Any) -> Answer:
    fields: dict[str, Any] = {
        "message": "Two margheritas, please",
        "response": "Added 2 × Margherita.",
        "conversation": 7,
        "message_id": 42,
        "tokens_charged": 100,
        "tokens_remaining": 3900,
        "source": Message.Source.PROVIDER,
        "provider": "local",
        "model": "tally-local-1",
        "sources": [{"source": "Menu: Margherita", "kind": "catalog", "score": 0.6123}],
        "usage": {"prompt_tokens": 1890, "completion_tokens": 41, "counted": False},
    }
    return Answer(**{**fields, **changes})


@pytest.mark.django_db
def test_the_body_is_plain_json_of_every_field_of_the_answer(user: Any) -> None:
    services.catalog_load(products=json.loads(CATALOG.read_text()))
    services.item_add(user=user, product=Product.objects.get(sku="PZ-MARG"), quantity=2)
    order = order_summary(services.order_confirm(user=user))  # datetimes and decimals

    for answer in (
        _answer(),
        _answer(source=Message.Source.CACHE, tokens_charged=0, sources=[]),
        _answer(order=order),
    ):
        body = ChatOutput(answer).data

        # Tool calls and the finish reason are the OpenAI-compatible endpoint's (compat.wire).
        openai_only = {"tool_calls", "finish_reason"}
        assert set(body) == {f.name for f in dataclasses.fields(answer)} - openai_only
        assert json.loads(JSONRenderer().render(body)) == json.loads(json.dumps(body))
        assert type(body["source"]) is str
        assert body["source"] == str(answer.source)
        assert body["sources"] == answer.sources
        assert body["usage"] == answer.usage
    assert body["order"]["total"] == "17.00"
    assert body["order"]["confirmed_at"].endswith("Z")
    assert ChatOutput(_answer()).data["order"] is None


def test_the_body_shares_no_list_or_dict_with_the_answer() -> None:
    answer = _answer()

    body = ChatOutput(answer).data
    body["sources"][0]["score"] = 0
    body["usage"]["prompt_tokens"] = 0

    assert answer.sources[0]["score"] == 0.6123
    assert answer.usage["prompt_tokens"] == 1890
