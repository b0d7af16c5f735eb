"""A topic's vocabulary, learned from its seed articles and description.

What a person would type into a news alert for the topic, found by the
project itself, in English and in French:

1. **Candidates**: words and phrases of up to three words from the seeds'
   kept text that at least two seed articles share (one-article details --
   a place, a minister -- rarely are), not starting or ending with a
   function word, plus the content words of the description.
2. **Distinctive**: much more frequent in the seeds than in ordinary
   language (``wordfreq``): "rançongiciel" is, "ont été" is not.
3. **On the topic**: the term, embedded in its language's template, is
   closer to the topic (seeds and description) than almost every word of
   the general vocabulary (:mod:`monitor.matching.vocabulary`): its
   relevance is a percentile among ordinary words, so "rappelé" or
   "millions" drop out, whatever the topic.
4. **The other language**: each term's counterparts are the words of the
   other language that the encoder puts closest to it, among the words
   closest to the topic and the term's cognates (names and acronyms are
   written the same in both languages).

Terms rarer than ``GATE_MAX_ZIPF`` in ordinary language open the topic's
cheap first stage (the gate: one such term lets an article be embedded);
all terms count as evidence. Nothing here knows any topic.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from monitor.matching.background import project_out
from monitor.matching.documents import split_sentences
from monitor.matching.text import normalize
from monitor.matching.vocabulary import (
    LANGUAGES,
    OTHER,
    Vocabulary,
    belongs_to,
    cognates,
    embed_terms,
    function_words,
    unique,
    zipf,
)

Matrix = npt.NDArray[np.float32]

MAX_WORDS = 3
MIN_DISTINCTIVE = 4.0  # log-ratio of seed frequency to ordinary frequency
MIN_RELEVANCE_PERCENTILE = 0.97  # among the general vocabulary of the language
GATE_MAX_ZIPF = 3.5  # rarer than this in ordinary language: opens the gate alone
GATE_MIN_RELEVANCE = 0.99  # ... and closer to the topic than 99% of ordinary words
DESCRIPTION_MAX_ZIPF = 5.0
FIELD_SIZE = 300  # words of the other language closest to the topic
FIELD_TERMS = 15  # of them, the closest are terms of the topic themselves
FIELD_MIN_PERCENTILE = 0.998
COUNTERPART_MARGIN = 0.01
MAX_TERMS = 40  # per language, seeds and description together
MAX_COUNTERPARTS = 2
# A counterpart is an ordinary word of its language, not a rare spelling
# that merely looks like the term ("laboratorium", "securitate").
COUNTERPART_MIN_ZIPF = 2.5
# ... and close to the term in the template space in absolute terms: below
# this, the nearest word is a look-alike ("piscines" / "pisses"), not a
# translation (measured on the practice topics' pairs: translations 0.90-0.95).
COUNTERPART_MIN_SIMILARITY = 0.902

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Term:
    text: str  # as it is most often written
    lang: str
    source: str  # "seeds", "description" or "counterpart"
    relevance: float  # percentile among the language's ordinary words
    zipf: float  # frequency in ordinary language (wordfreq)
    articles: int = 0  # seed articles that contain it
    counterpart_of: str | None = None

    @property
    def key(self) -> str:
        return normalize(self.text)


@dataclass
class TopicVocabulary:
    terms: list[Term] = field(default_factory=list)

    def by_lang(self, lang: str) -> list[Term]:
        return [t for t in self.terms if t.lang == lang]

    def gate(self, lang: str) -> list[str]:
        return unique(
            t.text
            for t in self.by_lang(lang)
            if t.zipf <= GATE_MAX_ZIPF and t.relevance >= GATE_MIN_RELEVANCE
        )

    def evidence(self, lang: str) -> list[str]:
        return unique(t.text for t in self.by_lang(lang))

    def match_forms(self, lang: str, kind: str) -> list[str]:
        """The terms of a kind with their singular and plural forms, as matched."""
        if kind == "evidence":
            return unique(form for term in self.evidence(lang) for form in inflections(term, lang))
        # A gate form is as rare as a gate term ("rains" opens it, "rain" does not).
        return unique(
            form
            for term in self.gate(lang)
            for form in inflections(term, lang)
            if form == term or zipf(form, lang) <= GATE_MAX_ZIPF
        )

    def pairs(self) -> list[tuple[str, str]]:
        return [(t.counterpart_of, t.text) for t in self.terms if t.counterpart_of]


@dataclass(frozen=True)
class Candidate:
    key: str
    text: str
    articles: int
    count: int


def candidates(texts_by_article: Sequence[Sequence[str]], lang: str, min_articles: int) -> list[Candidate]:
    """N-grams shared by ``min_articles`` articles or more (see the module doc)."""
    stop = function_words(lang)
    article_count: Counter[str] = Counter()
    count: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    for texts in texts_by_article:
        seen: set[str] = set()
        for text in texts:
            for sentence in split_sentences(text):
                raw = _TOKEN.findall(sentence)
                words = [normalize(w) for w in raw]
                for n in range(1, MAX_WORDS + 1):
                    for i in range(len(words) - n + 1):
                        gram = words[i : i + n]
                        if gram[0] in stop or gram[-1] in stop or any(w.isdigit() for w in gram):
                            continue
                        if n == 1 and len(gram[0]) < 3 and not (len(raw[i]) == 2 and raw[i].isupper()):
                            continue  # short words, unless an acronym (IA, AI, UE)
                        key = " ".join(gram)
                        count[key] += 1
                        seen.add(key)
                        forms[key][" ".join(raw[i : i + n])] += 1
        article_count.update(seen)
    return [
        Candidate(key, _written(forms[key]), article_count[key], count[key])
        for key in sorted(count)
        if article_count[key] >= min_articles
    ]


def _written(forms: Counter[str]) -> str:
    """The most frequent way of writing a term, lower case unless always capitalised."""
    text, _ = max(forms.items(), key=lambda kv: (kv[1], kv[0]))
    if any(f[:1].islower() for f in forms):
        return text.lower() if text[:1].isupper() and not text[1:2].isupper() else text
    return text


_ENDINGS = {
    "en": (("ies", "y"), ("y", "ies"), ("es", ""), ("s", ""), ("", "s")),
    "fr": (("aux", "al"), ("al", "aux"), ("eaux", "eau"), ("eau", "eaux"), ("x", ""), ("s", ""), ("", "s")),
}


def inflections(term: str, lang: str) -> list[str]:
    """``term`` and its other number (singular/plural) where ordinary
    language knows that form: "drought" -> "drought", "droughts";
    "hôpital" -> "hôpital", "hôpitaux". The head word varies: the last in
    English ("water restrictions"), the first in French ("restrictions d'eau")."""
    words = term.split(" ")
    if is_name(term) or not words:
        return [term]
    head = len(words) - 1 if lang == "en" else 0
    word = words[head]
    forms = [term]
    for old, new in _ENDINGS.get(lang, ()):
        if word.endswith(old) and len(word) - len(old) >= 3:
            variant = word[: len(word) - len(old)] + new
            if variant != word and zipf(variant, lang) >= 1.0:
                forms.append(" ".join([*words[:head], variant, *words[head + 1 :]]))
    return unique(forms)


def distinctiveness(candidate: Candidate, total_words: int, lang: str) -> float:
    from wordfreq import word_frequency

    ordinary = max(float(word_frequency(candidate.key, lang)), 1e-8)
    return math.log((candidate.count / max(total_words, 1)) / ordinary)


def is_name(text: str) -> bool:
    """Written with capitals inside or all capitals (SAG-AFTRA, LockBit, AMPTP)."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 2 and (text.isupper() or any(c.isupper() for c in text[1:] if c.isalpha()))


class Relevance:
    """How much closer to the topic than ordinary words a term is, as a
    percentile among the language's vocabulary table."""

    def __init__(self, topic: Matrix, vocabulary: Vocabulary, background: Matrix, axes: Matrix) -> None:
        self.topic = topic
        self.axes = axes
        self.background_mean = project_out(background, axes).mean(axis=0)
        self.reference: dict[str, npt.NDArray[np.float32]] = {}
        self.field: dict[str, tuple[list[str], Matrix]] = {}
        for lang in LANGUAGES:
            words, vectors = vocabulary.table(lang)
            scores = self.raw(vectors)
            self.reference[lang] = np.sort(scores)
            top = np.argsort(-scores, kind="stable")[:FIELD_SIZE]
            self.field[lang] = ([words[i] for i in top], vectors[top])

    def raw(self, vectors: Matrix) -> npt.NDArray[np.float32]:
        projected = project_out(vectors, self.axes)
        scores: npt.NDArray[np.float32] = (projected @ self.topic - projected @ self.background_mean).astype(
            np.float32
        )
        return scores

    def percentile(self, vectors: Matrix, lang: str) -> npt.NDArray[np.float64]:
        reference = self.reference[lang]
        ranks = np.searchsorted(reference, self.raw(vectors), side="right")
        return np.asarray(ranks / len(reference), dtype=np.float64)


def learn_vocabulary(
    seed_texts: Sequence[tuple[str, Sequence[str]]],
    description: Sequence[tuple[str, str]],
    relevance: Relevance,
) -> TopicVocabulary:
    """Terms of a topic in both languages. ``seed_texts``: per seed article,
    its language and its kept passages; ``description``: its sentences, each
    with its language (a description may say the topic in both)."""
    found: dict[tuple[str, str], Term] = {}
    for lang in LANGUAGES:
        articles = [texts for article_lang, texts in seed_texts if article_lang == lang]
        if articles:
            for term in _seed_terms(articles, lang, relevance):
                found.setdefault((lang, term.key), term)
    for lang in LANGUAGES:
        text = " ".join(sentence for sentence_lang, sentence in description if sentence_lang == lang)
        if text:
            for term in _description_terms(text, lang, relevance):
                found.setdefault((lang, term.key), term)
    own = _strongest(list(found.values()))
    out = list(own)
    for lang in LANGUAGES:
        present = {t.key for t in out if t.lang == OTHER[lang]}
        for term in _counterparts([t for t in own if t.lang == lang], OTHER[lang], relevance):
            if term.key not in present:
                present.add(term.key)
                out.append(term)
    for lang in LANGUAGES:
        present = {t.key for t in out if t.lang == lang}
        for term in _field_terms(lang, relevance):
            if term.key not in present:
                present.add(term.key)
                out.append(term)
    return TopicVocabulary(out)


def _field_terms(lang: str, relevance: Relevance) -> list[Term]:
    """The ordinary words of ``lang`` closest to the topic (its "field"):
    what the topic is called in a language its seeds are not written in,
    found without translating any one term ("drought", "hosepipe" are not
    in French seeds; "drought" is among the English words nearest to them)."""
    words, vectors = relevance.field[lang]
    percentiles = relevance.percentile(vectors[:FIELD_TERMS], lang)
    return [
        Term(word, lang, "field", float(p), zipf(word, lang))
        for word, p in zip(words[:FIELD_TERMS], percentiles, strict=True)
        if p >= FIELD_MIN_PERCENTILE
    ]


def _seed_terms(articles: Sequence[Sequence[str]], lang: str, relevance: Relevance) -> list[Term]:
    min_articles = 2 if len(articles) >= 2 else 1
    pool = candidates(articles, lang, min_articles)
    total = sum(len(_TOKEN.findall(t)) for texts in articles for t in texts)
    pool = [c for c in pool if distinctiveness(c, total, lang) >= MIN_DISTINCTIVE and belongs_to(c.key, lang)]
    if not pool:
        return []
    percentiles = relevance.percentile(embed_terms([c.text for c in pool], lang), lang)
    terms = [
        Term(c.text, lang, "seeds", float(p), zipf(c.text, lang), c.articles)
        for c, p in zip(pool, percentiles, strict=True)
        if p >= MIN_RELEVANCE_PERCENTILE
    ]
    return _without_redundant(terms)


def _description_terms(description: str, lang: str, relevance: Relevance) -> list[Term]:
    stop = function_words(lang)
    words = [
        w
        for w in _TOKEN.findall(description)
        if (normalize(w) not in stop and len(w) >= 3) or (len(w) >= 2 and w.isupper())  # acronyms: AI, EU
    ]
    words = unique(w.lower() if not is_name(w) else w for w in words)
    words = [w for w in words if zipf(w, lang) <= DESCRIPTION_MAX_ZIPF and not w.isdigit()]
    if not words:
        return []
    percentiles = relevance.percentile(embed_terms(words, lang), lang)
    return [
        Term(w, lang, "description", float(p), zipf(w, lang))
        for w, p in zip(words, percentiles, strict=True)
        if p >= MIN_RELEVANCE_PERCENTILE
    ]


def _without_redundant(terms: list[Term]) -> list[Term]:
    """Drop a phrase when a shorter term inside it is found in as many articles
    (the phrase adds no reach, only length)."""
    keys = {t.key: t for t in terms}
    out = []
    for term in terms:
        words = term.key.split()
        inner = [
            " ".join(words[i : i + n])
            for n in range(1, len(words))
            for i in range(len(words) - n + 1)
            if " ".join(words[i : i + n]) in keys
        ]
        if any(keys[k].articles >= term.articles for k in inner):
            continue
        out.append(term)
    return out


def _strongest(terms: list[Term]) -> list[Term]:
    """At most ``MAX_TERMS`` per language, the most relevant first."""
    out: list[Term] = []
    for lang in LANGUAGES:
        mine = sorted((t for t in terms if t.lang == lang), key=lambda t: (-t.relevance, t.key))
        out.extend(mine[:MAX_TERMS])
    return out


def _counterparts(terms: Sequence[Term], lang: str, relevance: Relevance) -> list[Term]:
    """For each term, the closest words of ``lang`` (see the module doc)."""
    if not terms:
        return []
    field_words, field_vectors = relevance.field[lang]
    queries = embed_terms([t.text for t in terms], OTHER[lang])
    out: list[Term] = []
    for term, query in zip(terms, queries, strict=True):
        if is_name(term.text):
            out.append(
                Term(term.text, lang, "counterpart", term.relevance, term.zipf, counterpart_of=term.text)
            )
            continue
        extra = [
            w
            for w in cognates(term.text, lang)
            if w not in field_words and zipf(w, lang) >= COUNTERPART_MIN_ZIPF
        ]
        words = [*field_words, *extra]
        vectors = np.vstack([field_vectors, embed_terms(extra, lang)]) if extra else field_vectors
        similarity = vectors @ query
        best = float(similarity.max())
        order = np.argsort(-similarity, kind="stable")
        chosen = [
            int(i)
            for i in order
            if similarity[i] >= best - COUNTERPART_MARGIN
            and zipf(words[int(i)], lang) >= COUNTERPART_MIN_ZIPF
        ][:MAX_COUNTERPARTS]
        percentiles = relevance.percentile(vectors[chosen], lang)
        for i, p in zip(chosen, percentiles, strict=True):
            if p >= MIN_RELEVANCE_PERCENTILE and similarity[i] >= COUNTERPART_MIN_SIMILARITY:
                word = words[i]
                out.append(
                    Term(word, lang, "counterpart", float(p), zipf(word, lang), counterpart_of=term.text)
                )
    return out
