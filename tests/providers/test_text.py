"""The shared text helpers (`providers.text`): words and stems, the offline token counter, the
hashing embedding; and each provider's token counter."""

from __future__ import annotations

import numpy as np
import pytest

from providers.adapters.gemini_chat import GeminiProvider
from providers.adapters.local import LocalProvider
from providers.adapters.openai_chat import OpenAIProvider
from providers.base import Provider, ProviderConfig
from providers.text import content_stems, count_tokens, hashing_embed, stem, words


def test_words_are_lower_cased_and_keep_their_apostrophes() -> None:
    found = words("What’s in the Quattro-Formaggi?")

    assert found == ["what's", "in", "the", "quattro", "formaggi"]


def test_plurals_and_verb_forms_fold_to_one_stem() -> None:
    assert stem("cookies") == stem("cookie") == "cooki"
    assert stem("quiches") == stem("quiche")
    assert stem("delivered") == stem("deliver")
    assert stem("gas") == "gas"  # short words stay as they are


def test_content_stems_drop_stopwords_and_repeats_and_keep_the_order() -> None:
    assert content_stems("Do you have pizzas? Pizza with the olives, please") == [
        "pizza",
        "oliv",
    ]
    assert content_stems("opening hours", frozenset({"opening"})) == ["hour"]


def test_the_tokenizer_splits_words_numbers_and_punctuation() -> None:
    assert count_tokens("") == 0
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("Open 11:00-22:00") == 8
    assert count_tokens("1234567") == 3  # digits come in groups of up to three


def test_the_same_text_always_embeds_to_the_same_vector() -> None:
    one = hashing_embed(["Delivery is free for orders over 25 EUR."])
    batch = hashing_embed(["something else", "Delivery is free for orders over 25 EUR."])

    np.testing.assert_array_equal(one[0], batch[1])
    assert hashing_embed(["x y z"], dim=64).shape == (1, 64)


def test_a_text_embedded_again_is_not_changed_by_what_its_first_caller_did() -> None:
    text = "Is the margherita vegetarian?"
    first = hashing_embed([text])
    expected = first.copy()
    first *= 0  # callers own what they are given: normalising or scaling it in place

    again = hashing_embed([text])

    np.testing.assert_array_equal(again, expected)
    np.testing.assert_array_equal(hashing_embed([text, "else"])[:1], expected)
    np.testing.assert_array_equal(hashing_embed([text], dim=64), hashing_embed([text, "x"], 64)[:1])


def test_texts_sharing_words_score_above_unrelated_ones() -> None:
    query, related, unrelated = hashing_embed(
        [
            "what are your opening hours",
            "Opening hours: we are open from 11:00 to 22:00.",
            "Delivery costs 2.50 EUR within 5 km.",
        ]
    )

    assert float(query @ related) > 0.3
    assert float(query @ related) > float(query @ unrelated) + 0.3


def test_plurals_meet_their_singular_in_the_embedding_space() -> None:
    pizzas, pizza, salad = hashing_embed(["margherita pizzas", "margherita pizza", "caesar salad"])

    assert float(pizzas @ pizza) > 0.99
    assert float(pizzas @ salad) < 0.3


def test_the_hashing_embedder_gives_zero_vectors_for_texts_without_words():
    vectors = hashing_embed(["¤·[", "", "pizza"])

    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    assert not vectors[0].any() and not vectors[1].any() and vectors[2].any()


def test_the_local_provider_counts_with_its_own_tokenizer() -> None:
    config = ProviderConfig(name="local", default_model="tally-local-1", models=("tally-local-1",))
    text = "Open 11:00-22:00, every day!"

    assert LocalProvider(config).count_tokens(text) == count_tokens(text)


@pytest.mark.parametrize("vendor", [OpenAIProvider, GeminiProvider])
def test_vendors_are_estimated_offline_at_a_token_per_four_bytes_rounded_up(
    vendor: type[Provider],
) -> None:
    config = ProviderConfig(name="vendor", default_model="m", models=("m",), api_key="test-key")
    provider = vendor(config)  # builds the SDK client; nothing is sent

    assert provider.count_tokens("") == 0
    assert provider.count_tokens("abcd") == 1
    assert provider.count_tokens("abcde") == 2
    assert provider.count_tokens("café!") == 2  # six bytes of UTF-8
