"""A company name taken apart for matching: core name, trade name, and the qualifiers.

``analyse("深圳市華信網絡科技有限公司")`` and ``analyse("華信（深圳）网络科技有限公司")`` give
the same core 华信网络科技 (trade name 华信, industry 网络科技), region 深圳 (province
440000) and legal form 有限公司. The text is first normalised as everywhere else
(registry.text.normalize: NFKC, so full-width forms and （） become half-width; OpenCC
traditional → simplified; case folded), then brackets are unified and spaces dropped.

The region prefix, a place in brackets, the legal form and a branch (…有限公司深圳分公司)
are qualifiers: removed from the core and kept apart, so that the matcher can weigh them
(a different place or a branch is a different firm, a missing one is merely unknown).
Never raises for any ``str``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from registry import text
from registry.screening import lexicon

_OPEN = "([【〔［{<《〈「『〖"
_CLOSE = ")]】〕］}>》〉」』〗"
_BRACKETS = str.maketrans({**dict.fromkeys(_OPEN, "("), **dict.fromkeys(_CLOSE, ")")})
_BRACKETED = re.compile(r"\(([^()]*)\)")
_PUNCTUATION = re.compile(r"[\s·.,，。、'\"“”‘’\-_/&+]+")
MIN_CORE = 2
LONGEST = 400  # characters of a name looked at
_INDUSTRY = frozenset(lexicon.INDUSTRY_WORDS)
_INDUSTRY_SIZES = sorted({len(word) for word in lexicon.INDUSTRY_WORDS}, reverse=True)
# What the qualifiers of a name are compared by: legal form family, province, city, branch.
QualifierKey = tuple[str | None, str | None, str | None, str | None]


@dataclass(frozen=True)
class NameParts:
    """One name, taken apart. ``key`` is the whole normalised name (no spaces, unified
    brackets); ``core`` = ``trade`` + ``industry``."""

    key: str
    core: str
    trade: str
    industry: str
    legal_form: str | None = None  # as written, e.g. 有限责任公司
    legal_family: str | None = None  # limited, joint_stock, company, ...
    region: str | None = None  # the place of the prefix or the brackets, e.g. 深圳
    province: str | None = None  # GB/T 2260 code of the province of that place
    city: str | None = None  # the city of that place, when it is a city or a district
    branch: str | None = None  # the branch's own place (or its text) when a branch

    @cached_property
    def qualifier_key(self) -> QualifierKey:
        return (self.legal_family, self.province, self.city, self.branch)


def clean(name: str) -> str:
    """The normalised name: registry.text.normalize, brackets unified to (), spaces and
    punctuation that does not distinguish names dropped."""
    if not isinstance(name, str):
        return ""
    return _tidy(text.normalize(name[:LONGEST]))


def _tidy(value: str) -> str:
    return _PUNCTUATION.sub("", value.translate(_BRACKETS))


def _strip_branch(value: str) -> tuple[str, str | None]:
    for marker in lexicon.BRANCH_MARKERS:
        if not value.endswith(marker) or len(value) <= len(marker) + MIN_CORE:
            continue
        body = value[: -len(marker)]
        # The parent's legal form ends where the branch's place begins.
        for form, _family in lexicon.LEGAL_FORMS:
            cut = body.rfind(form)
            if cut > 0:
                parent, place = body[: cut + len(form)], body[cut + len(form) :]
                return parent, _region_word(place) or place or marker
        return body, marker
    return value, None


def _strip_legal_form(value: str) -> tuple[str, str | None, str | None]:
    for form, family in lexicon.LEGAL_FORMS:
        if value.endswith(form) and len(value) - len(form) >= MIN_CORE:
            return value[: -len(form)], form, family
    return value, None, None


def _region_word(value: str) -> str | None:
    """The place name `value` consists of (with or without 省/市/区…), or None."""
    names = lexicon.region_names()
    if value in names:
        return value
    for suffix in lexicon.REGION_SUFFIXES:
        if value.endswith(suffix) and value[: -len(suffix)] in names:
            return value[: -len(suffix)]
    return None


def _strip_region_prefix(value: str) -> tuple[str, list[str]]:
    """Remove places at the start (广东省深圳市南山区…), as long as a core remains."""
    names = lexicon.region_names()
    found: list[str] = []
    while True:
        for size in range(min(lexicon.longest_region(), len(value)), 1, -1):
            head = value[:size]
            if head not in names:
                continue
            rest = value[size:]
            for suffix in lexicon.REGION_SUFFIXES:
                if rest.startswith(suffix):
                    rest = rest[len(suffix) :]
                    break
            if len(rest) >= MIN_CORE:
                found.append(head)
                value = rest
                break
        else:
            return value, found


def _strip_brackets(value: str) -> tuple[str, list[str]]:
    """Drop bracketed places and country words; keep any other bracketed text, unbracketed."""
    places: list[str] = []

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        place = _region_word(inner)
        if place:
            places.append(place)
            return ""
        if inner in lexicon.COUNTRY_WORDS:
            return ""
        return inner

    value = _BRACKETED.sub(replace, value)
    return value.replace("(", "").replace(")", ""), places


def split_industry(core: str) -> tuple[str, str]:
    """(trade name, industry): industry words cut from the end while a trade name of at
    least two characters is left (the longest word first)."""
    trade = core
    while True:
        for size in _INDUSTRY_SIZES:
            if len(trade) - size >= MIN_CORE and trade[-size:] in _INDUSTRY:
                trade = trade[:-size]
                break
        else:
            return trade, core[len(trade) :]


@lru_cache(maxsize=10_000)  # a name asked again (registered ones: analyse_normalised)
def analyse(name: str) -> NameParts:
    """Take a company name apart (see the module docstring)."""
    return _parts(clean(name))


@lru_cache(maxsize=100_000)  # registered names come back in every batch
def analyse_normalised(name: str) -> NameParts:
    """analyse() of a name registry.text.normalize already gave, as the search index holds
    them: the same parts without normalising it again (normalize is idempotent), which
    was half the work of taking a registered name apart."""
    if len(name) > LONGEST:  # cut before normalising: not the same text
        return analyse(name)
    return _parts(_tidy(name))


def _parts(key: str) -> NameParts:
    value, branch = _strip_branch(key)
    value, form, family = _strip_legal_form(value)
    value, prefixes = _strip_region_prefix(value)
    value, bracketed = _strip_brackets(value)
    if len(value) < MIN_CORE:  # nothing but qualifiers: keep the name as it is
        value = key.replace("(", "").replace(")", "")
    places = prefixes + bracketed
    region = places[-1] if places else None
    province, city = lexicon.region_names().get(region, (None, None)) if region else (None, None)
    trade, industry = split_industry(value)
    return NameParts(
        key=key,
        core=value,
        trade=trade,
        industry=industry,
        legal_form=form,
        legal_family=family,
        region=region,
        province=province,
        city=city,
        branch=branch,
    )
