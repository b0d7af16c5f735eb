"""What grouping reads from a text: names and numbers, link and title keys,
the compact vector."""

from __future__ import annotations

import numpy as np

from monitor.stories.features import dequantize, link_key, names_and_numbers, quantize, signals, title_key


def test_names_are_folded_and_shared_across_languages() -> None:
    english = signals(
        "Oppenheimer cast leaves London premiere as SAG-AFTRA calls the strike",
        "The Oppenheimer cast of Christopher Nolan's film walked out; 98% of members had voted for it in 2023.",
        None,
    )
    french = signals(
        "Grève à Hollywood : le casting d'Oppenheimer quitte l'avant-première de Londres",
        "Le syndicat SAG-AFTRA a appelé à la grève, votée à 98 %.",
        None,
    )
    assert {"oppenheimer", "london", "sag-aftra", "christopher", "nolan", "#98"} <= english.names
    assert "#2023" not in english.names  # a year is not an event's number
    assert {"oppenheimer", "sag-aftra", "#98", "hollywood", "londres"} <= french.names
    assert english.names & french.names >= {"oppenheimer", "sag-aftra", "#98"}
    assert "the" not in english.names and "le" not in french.names


def test_a_titles_first_word_is_a_name_only_when_capitalised_elsewhere() -> None:
    # "Striking" starts the sentence and is never capitalised elsewhere: not a name.
    assert names_and_numbers("Striking actors start picketing") == set()
    # "Tom" starts the title; the summary capitalises it inside a sentence.
    assert names_and_numbers("Tom Hanks warns fans", "The actor Tom Hanks said so.") == {"tom", "hanks"}


def test_link_and_title_keys_ignore_what_does_not_change_the_report() -> None:
    assert link_key("https://www.example.com/a/b/") == link_key("http://example.com/a/b") == "example.com/a/b"
    assert link_key(None) is None
    assert title_key("Grève à Hollywood !") == title_key("greve a   hollywood")
    assert title_key("Grève à Hollywood") != title_key("Grève à Paris")


def test_quantized_vectors_keep_their_cosines() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(20, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    restored = np.stack([dequantize(*quantize(v)) for v in vectors])
    assert len(quantize(vectors[0])[0]) == 384  # one byte a dimension
    assert np.abs(restored @ restored.T - vectors @ vectors.T).max() < 0.01
    zero_bytes, zero_scale = quantize(np.zeros(384, dtype=np.float32))
    assert zero_scale == 0.0 and not dequantize(zero_bytes, zero_scale).any()
