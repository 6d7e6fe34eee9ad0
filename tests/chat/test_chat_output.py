"""A chat's response body (`chat_output`) is what the documented `ChatOutput` serializer makes
of the answer, field for field and byte for byte once rendered."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from rest_framework.renderers import JSONRenderer

from chat.models import Message
from chat.pipeline import Answer
from chat.serializers import ChatOutput, chat_output
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
        "usage": {"prompt_tokens": 1890, "completion_tokens": 41},
    }
    return Answer(**{**fields, **changes})


@pytest.mark.django_db
def test_the_body_is_what_the_documented_serializer_makes(user: Any) -> None:
    services.catalog_load(products=json.loads(CATALOG.read_text()))
    services.item_add(user=user, product=Product.objects.get(sku="PZ-MARG"), quantity=2)
    order = order_summary(services.order_confirm(user=user))  # datetimes and decimals

    for answer in (
        _answer(),
        _answer(source=Message.Source.CACHE, tokens_charged=0, sources=[]),
        _answer(order=order),
    ):
        body = chat_output(answer)
        documented = ChatOutput(answer.as_dict()).data

        assert body == documented
        assert JSONRenderer().render(body) == JSONRenderer().render(documented)
        assert type(body["source"]) is str
    assert body["order"]["total"] == "17.00"
    assert body["order"]["confirmed_at"].endswith("Z")


def test_as_dict_holds_every_field_and_shares_no_list_or_dict_with_the_answer() -> None:
    answer = _answer(order={"id": 3, "lines": [{"sku": "PZ-MARG", "quantity": 2}]})

    body = answer.as_dict()

    assert body == dataclasses.asdict(answer)
    body["sources"][0]["score"] = 0
    body["usage"]["prompt_tokens"] = 0
    body["order"]["lines"][0]["quantity"] = 9
    assert answer.sources[0]["score"] == 0.6123
    assert answer.usage["prompt_tokens"] == 1890
    assert answer.order == {"id": 3, "lines": [{"sku": "PZ-MARG", "quantity": 2}]}
