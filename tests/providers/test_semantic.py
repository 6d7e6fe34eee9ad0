"""The offline semantic embedding finds meaning without shared words, with no network."""

from __future__ import annotations

import numpy as np

from providers import semantic
from providers.text import content_stems


def test_a_paraphrase_is_nearer_than_an_unrelated_passage_though_no_word_is_shared():
    question = "can I bring my puppy?"
    answer = "Dogs and other pets are welcome in the shop."
    other = "Delivery is free on orders over 30 euros."
    assert not set(content_stems(question)) & set(content_stems(answer))
    q, a, o = semantic.embed([question, answer, other])
    assert q @ a > q @ o + 0.1


def test_rows_are_unit_length_float32_and_an_empty_text_is_zeros():
    rows = semantic.embed(["", "gluten-free bases", "opening hours"])
    assert rows.dtype == np.float32 and rows.shape == (3, semantic.DIMENSION)
    assert not rows[0].any()
    np.testing.assert_allclose(np.linalg.norm(rows[1:], axis=1), 1.0, rtol=1e-5)
    assert semantic.embed([]).shape == (0, semantic.DIMENSION)
