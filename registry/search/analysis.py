"""Analysers for the search index: character bigrams (recall) and jieba words (ranking).

Both start from :func:`registry.text.normalize`, the one normalisation used at index
and at query time. Names are joined with a newline, which ``normalize`` never leaves in
a name, so no gram straddles two names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from whoosh.analysis import Token, Tokenizer

from registry import text

NAME_SEPARATOR = "\n"
MAX_QUERY_CHARS = 100


def name_grams(normalised: str) -> list[str]:
    """Overlapping character bigrams of one normalised name, spaces included.

    Every substring of two or more characters of the name has all its bigrams here
    (unlike splitting at spaces first), so the AND of a query's bigrams never misses.
    A one-character name yields itself.
    """
    if len(normalised) < 2:
        return [normalised] if normalised else []
    return [normalised[i : i + 2] for i in range(len(normalised) - 1)]


def load_word_dictionary() -> None:
    """Load the word dictionary (jieba-rs, a few MB, under half a second) in this process;
    a no-op after. Only a process that writes index documents needs it (queries use the
    index's words)."""
    import rjieba  # noqa: F401  (the import loads the dictionary)


def words(normalised: str) -> list[str]:
    """jieba search-mode words of a normalised text (ranking only, never recall), cut by
    jieba-rs: the same words as the Python jieba for the names seen, seven times faster."""
    import rjieba

    return [w for w in rjieba.cut_for_search(normalised, True) if w.strip()]


def name_words(names: str) -> list[str]:
    """The distinct jieba words of newline-separated normalised names, sorted: what the
    index stores per firm so a query that is whole words of a name ranks first."""
    found: set[str] = set()
    for name in names.split(NAME_SEPARATOR):
        found.update(words(name))
    return sorted(found)


def _tokens(terms: list[str], positions: bool, chars: bool, mode: str, **kw) -> Iterator[Token]:
    token = Token(positions, chars, removestops=False, mode=mode, **kw)
    for pos, term in enumerate(terms):
        token.text = term
        token.boost = 1.0
        token.stopped = False
        if positions:
            token.pos = pos
        if chars:
            token.startchar = pos
            token.endchar = pos + len(term)
        yield token


# The two Whoosh tokenizers below are no longer in the schema; they stay importable because
# an index written before (its schema is pickled in the index) names them.


class _PerNameTokenizer(Tokenizer):
    """Whoosh tokenizer: the terms `split` gives for each newline-separated, already
    normalised name."""

    split: Callable[[str], Iterable[str]]

    def __call__(  # type: ignore[override]
        self, value: str, positions: bool = False, chars: bool = False, mode: str = "", **kw
    ) -> Iterator[Token]:
        terms = [term for name in value.split(NAME_SEPARATOR) for term in self.split(name)]
        kw.pop("removestops", None)
        yield from _tokens(terms, positions, chars, mode, **kw)


class BigramTokenizer(_PerNameTokenizer):
    """Bigrams of each name."""

    split = staticmethod(name_grams)


class JiebaTokenizer(_PerNameTokenizer):
    """jieba words of each name."""

    split = staticmethod(words)


def normalise_query(raw: object) -> str:
    """A user's query as a search key: any input, never raises, at most 100 characters."""
    if not isinstance(raw, str):
        return ""
    return text.normalize(raw[: MAX_QUERY_CHARS * 4])[:MAX_QUERY_CHARS].strip()
