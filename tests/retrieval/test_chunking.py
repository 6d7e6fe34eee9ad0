"""Chunking: chunks stay within the size, overlap as configured, never cut a word, and prefer
paragraph and sentence ends."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.chunking import chunk_spans, split_text

_WORDS = st.lists(
    st.one_of(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyzé0123456789.,!?'", min_size=1, max_size=14),
        st.sampled_from(["\n\n", "\n", ".", "Stop.", "word", "a" * 40]),
    ),
    max_size=300,
)
_GAPS = st.sampled_from([" ", " ", " ", "\n", "\n\n", "  ", "\t"])


@settings(max_examples=150, deadline=None)
@given(
    words=_WORDS,
    gaps=st.lists(_GAPS, min_size=300, max_size=300),
    size=st.integers(min_value=10, max_value=400),
    overlap_share=st.floats(min_value=0, max_value=0.9),
)
def test_chunks_respect_size_overlap_and_word_boundaries(
    words: list[str], gaps: list[str], size: int, overlap_share: float
) -> None:
    text = "".join(word + gap for word, gap in zip(words, gaps, strict=False))
    overlap = int(size * overlap_share)
    spans = chunk_spans(text, size=size, overlap=overlap)
    tokens = [m.span() for m in re.finditer(r"\S+", text)]
    starts = {start for start, _ in tokens}
    ends = {end for _, end in tokens}

    for start, end in spans:
        assert start in starts and end in ends  # never inside a word
        chunk = text[start:end]
        assert len(chunk) <= size or not re.search(r"\s", chunk)  # over size: one long word
    for (_, previous_end), (next_start, _) in zip(spans, spans[1:], strict=False):
        assert next_start > spans[0][0]
        assert previous_end - next_start <= overlap  # shared characters
    covered = [False] * len(tokens)
    for start, end in spans:
        for i, (word_start, word_end) in enumerate(tokens):
            if start <= word_start and word_end <= end:
                covered[i] = True
    assert all(covered)  # every word is in some chunk
    assert [s for s, _ in spans] == sorted({s for s, _ in spans})  # always moving forward


def test_chunks_prefer_paragraph_then_sentence_ends() -> None:
    first = "The oven is lit at dawn. " * 10  # 250 characters of sentences
    text = first.strip() + "\n\n" + "Dough rests for a day before it is stretched. " * 10

    chunks = split_text(text, size=300, overlap=0)

    assert chunks[0] == first.strip()
    assert all(chunk.endswith(".") for chunk in chunks)


def test_overlap_repeats_the_trailing_words() -> None:
    text = " ".join(f"w{n}" for n in range(200))

    spans = chunk_spans(text, size=100, overlap=30)

    assert len(spans) > 5
    for (_, previous_end), (next_start, _) in zip(spans, spans[1:], strict=False):
        assert 30 - 5 <= previous_end - next_start <= 30  # as many whole words as fit


def test_a_word_longer_than_the_size_is_kept_whole() -> None:
    assert split_text("a " + "x" * 50 + " b", size=10, overlap=2) == ["a", "x" * 50, "b"]


def test_empty_text_has_no_chunks() -> None:
    assert split_text(" \n ", size=10, overlap=0) == []


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_sizes_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_spans("text", size=size, overlap=overlap)
