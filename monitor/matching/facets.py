"""A topic's facets: what it is about, and where or who.

A watch topic is usually a conjunction: cyberattacks *on hospitals*, a
strike *of actors*, AI *using performers' likeness*. The news that comes
closest without being the topic has one side and not the other (a
ransomware attack on a retailer; a rail strike). The learner finds the
sides from the topic's own terms:

1. the terms of each language are clustered by meaning (average linkage of
   their template vectors, :data:`FACET_LINK`), then each cluster is joined
   to the cluster of the other language that means the same;
2. a facet's *coverage* is the share of the kept seed passages with one of
   its terms; the **defining facets** are those present in most passages
   (:data:`DEFINING_COVERAGE`), two at most, names left out (a minister, a
   company belong to one story, not to the topic);
3. a topic with two defining facets requires both: an article must be
   closer to each facet's direction than ordinary news, by ``facet_min_z``
   standard deviations (semantically, so "Tom Hanks" is about performers
   without the word "actor").

A topic whose seeds show one defining facet (droughts and water
restrictions: water is everywhere, restrictions in a quarter of the
passages) gets no requirement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from monitor.matching.background import project_out
from monitor.matching.keywords import TermIndex, pad
from monitor.matching.terms import Term, TopicVocabulary, inflections, is_name
from monitor.matching.text import normalize
from monitor.matching.vocabulary import LANGUAGES, embed_terms, unique

Matrix = npt.NDArray[np.float32]

# Terms whose template vectors are this close on average form one facet
# ("cyberattaque, rançongiciel, pirates" / "hôpital, patients").
FACET_LINK = 0.915
FACETS = 2
DEFINING_COVERAGE = 0.5


@dataclass(frozen=True)
class Facet:
    terms: tuple[tuple[str, str], ...]  # (text, language)
    coverage: float  # share of the kept seed passages with one of its terms

    def texts(self, lang: str) -> list[str]:
        return [text for text, term_lang in self.terms if term_lang == lang]


def _clusters(vectors: Matrix) -> list[list[int]]:
    """Average-linkage clustering at ``FACET_LINK``."""
    sims = vectors @ vectors.T
    clusters: list[list[int]] = [[i] for i in range(len(vectors))]
    while len(clusters) > 1:
        best, pair = -1.0, (0, 0)
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                link = float(sims[np.ix_(clusters[i], clusters[j])].mean())
                if link > best:
                    best, pair = link, (i, j)
        if best < FACET_LINK:
            break
        i, j = pair
        clusters[i] = clusters[i] + clusters[j]
        del clusters[j]
    return clusters


def facets(vocabulary: TopicVocabulary, axes: Matrix, passages: Sequence[str]) -> list[Facet]:
    """The topic's facets, most present first: groups of its terms that mean
    related things, each language clustered apart (the template vectors of
    one language stay closer to each other than to their translations) and
    the clusters of the two languages then joined where they mean the same.
    A topic is usually a *what* and a *where* or *who* (an attack and a
    hospital; a strike and actors); its defining facets are those present in
    most of its seed passages."""
    per_lang: list[tuple[list[Term], Matrix]] = []
    for lang in LANGUAGES:
        terms = vocabulary.by_lang(lang)
        if not terms:
            continue
        vectors = project_out(embed_terms([t.text for t in terms], lang), axes)
        for cluster in _clusters(vectors):
            members = [terms[i] for i in cluster]
            centroid = vectors[cluster].mean(axis=0)
            per_lang.append((members, centroid / (np.linalg.norm(centroid) or 1.0)))
    # Join each cluster of one language to the closest cluster of the other.
    joined: list[list[Term]] = []
    used: set[int] = set()
    for i, (members, centroid) in enumerate(per_lang):
        if i in used:
            continue
        group = list(members)
        lang = members[0].lang
        candidates = [
            (float(centroid @ other), j)
            for j, (others, other) in enumerate(per_lang)
            if j not in used and j != i and others[0].lang != lang
        ]
        if candidates:
            similarity, j = max(candidates)
            if similarity >= FACET_LINK:
                group.extend(per_lang[j][0])
                used.add(j)
        used.add(i)
        joined.append(group)
    normalized = [pad(normalize(p)) for p in passages]
    out = []
    for group in joined:
        if all(is_name(t.text) for t in group):
            continue  # names (a company, a minister) are the story's, not the topic's
        index = TermIndex()
        for term in group:
            for form in inflections(term.text, term.lang):
                index.add(form, "facet")
        coverage = sum(1 for p in normalized if index.find(p)) / max(len(normalized), 1)
        out.append(Facet(tuple((t.text, t.lang) for t in group), coverage))
    out.sort(key=lambda f: (-f.coverage, f.terms))
    # A facet all of whose forms another facet has says nothing more.
    forms = [{normalize(t) for t, _ in f.terms} for f in out]
    return [f for i, f in enumerate(out) if not any(j != i and forms[i] < forms[j] for j in range(len(out)))]


def defining_facets(found: Sequence[Facet]) -> list[Facet]:
    """The facets present in most seed passages (at most ``FACETS``)."""
    return [f for f in found if f.coverage >= DEFINING_COVERAGE][:FACETS]


def evidence_groups(
    topic_id: str, defining: Sequence[Facet], groups: dict[str, list[str]]
) -> list[list[str]]:
    """The defining facets as one evidence conjunction of term groups
    (registered in ``groups``), or none with fewer than two."""
    if len(defining) < 2:
        return []
    conjunction = []
    for number, facet in enumerate(defining, 1):
        name = f"{topic_id}#{number}"
        groups[name] = unique(form for text, lang in facet.terms for form in inflections(text, lang))
        conjunction.append(name)
    return [conjunction]


def facet_directions(
    facet_terms: Sequence[Sequence[str]], axes: Matrix, ordinary: Matrix
) -> list[dict[str, Any]]:
    """Each facet as a direction: the mean of its terms' template vectors,
    with the mean and spread of ordinary news along it."""
    out = []
    for terms in facet_terms:
        # Every term in the same (English) template, whatever its language:
        # the direction must not lean toward the language with more terms.
        vectors = project_out(embed_terms(list(terms), "en"), axes)
        mean = vectors.mean(axis=0)
        direction = (mean / (np.linalg.norm(mean) or 1.0)).astype(np.float32)
        along = ordinary @ direction
        out.append({"v": direction, "mean": float(along.mean()), "std": float(along.std() or 1.0)})
    return out


def about(
    vectors: Matrix, directions: Sequence[tuple[Matrix, float, float]], min_z: float
) -> npt.NDArray[np.bool_]:
    """Per vector: closer to every facet than ordinary news, by ``min_z`` spreads."""
    ok = np.ones(len(vectors), dtype=bool)
    for direction, mean, std in directions:
        ok &= (vectors @ direction - mean) / std >= min_z
    return ok


def evidence_of(
    groups: dict[str, list[str]], conjunctions: Sequence[Sequence[str]], texts: Sequence[str]
) -> npt.NDArray[np.float64]:
    """1 for each text where one of the evidence conjunctions holds (its words)."""
    index = TermIndex()
    for group in {g for conj in conjunctions for g in conj}:
        for term in groups[group]:
            index.add(term, group)
    out = np.zeros(len(texts))
    for i, text in enumerate(texts):
        hits = index.find(pad(normalize(text)))
        out[i] = float(any(all(g in hits for g in conj) for conj in conjunctions))
    return out
