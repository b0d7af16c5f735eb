"""The shipped vocabulary gates: what each topic needs before it is scored.

These check the principles written in seeds/lexicon.yaml, our optional
hand-written addition the shipped model was learned with (no figures):
a union's name is not a labour dispute, a strike outside entertainment is
not a candidate, an AI word is needed for ai-likeness, and everyday words
("faced", "face à", "start-up", "répliques") open no gate.
"""

from __future__ import annotations

import pytest

from monitor.matching.model import TopicModel, load_model
from monitor.matching.text import normalize
from tests.matching.conftest import SHIPPED_MODEL


@pytest.fixture(scope="module")
def model() -> TopicModel:
    loaded = load_model(SHIPPED_MODEL)
    assert loaded is not None
    return loaded


def candidates(model: TopicModel, text: str) -> set[str]:
    return set(model.candidate_topics(model.term_hits(normalize(text)), model.topic_ids))


@pytest.mark.parametrize(
    "text",
    [
        "The Screen Actors Guild Awards honoured the best film casts of the year.",
        "SAG-AFTRA members elected a new president, who promised to fix the union's finances.",
        "La tour Eiffel fermée par une grève des salariés de la société d'exploitation.",
        "Rail workers strike as talks with the operator fail.",
    ],
)
def test_no_labour_dispute_in_entertainment_is_no_strike_candidate(model: TopicModel, text: str) -> None:
    assert "strike-negotiations" not in candidates(model, text)


@pytest.mark.parametrize(
    "text",
    [
        "Equity members back industrial action in an indicative ballot over talks with producers.",
        "Les comédiens du doublage votent la grève contre les studios.",
        "SAG-AFTRA members approved the new contract with the AMPTP.",
    ],
)
def test_dispute_signal_with_entertainment_labour_is_a_strike_candidate(model: TopicModel, text: str) -> None:
    assert "strike-negotiations" in candidates(model, text)


def test_scans_without_ai_are_digital_doubles_candidates_only(model: TopicModel) -> None:
    found = candidates(
        model, "Extras were put through a 3D body scanner so their digital doubles fill crowds."
    )
    assert "digital-doubles" in found
    assert "ai-likeness" not in found


def test_a_digital_replica_clause_is_an_ai_likeness_candidate(model: TopicModel) -> None:
    found = candidates(model, "The contract requires consent before a performer's digital replica is made.")
    assert {"ai-likeness", "digital-doubles"} <= found


@pytest.mark.parametrize(
    "text",
    [
        "Commuters faced delays after a signal failure; Acme says its AI assistant will summarise emails.",
        "Face à l'IA, la start-up lance un assistant pour résumer les courriels.",
        "Le jeu vidéo ajoute des répliques en anglais au personnage.",
    ],
)
def test_everyday_words_open_no_gate(model: TopicModel, text: str) -> None:
    assert candidates(model, text) == set()


def test_candidate_topics_agree_with_each_topics_gate(model: TopicModel) -> None:
    text = "AI clone of a singer's voice; the union called a strike against the studios; body scans."
    hits = model.term_hits(normalize(text))
    groups = {name for kind, name in hits if kind == "group"}
    expected = [
        t
        for t in model.topic_ids
        if any(all(g in groups for g in conj) for conj in model.topics[t].curated_gate)
    ]
    assert model.candidate_topics(hits, model.topic_ids) == expected
    assert model.needs_embedding(hits, model.topic_ids) == bool(expected)
