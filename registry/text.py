"""Text normalisation shared by storage, import and search.

One place decides how names and codes are compared, so that a value is
normalised the same way when it is stored, imported, indexed and queried:

* :func:`normalize` - search/matching key for free text (NFKC, traditional to
  simplified Chinese with OpenCC, case folding, control characters removed,
  whitespace collapsed);
* :func:`clean_display` - a name as entered, tidied for storage and display;
* :func:`canonical_uscc`, :func:`valid_uscc`, :func:`validate_uscc`,
  :func:`looks_like_uscc` - the unified social credit code (统一社会信用代码);
* :func:`canonical_licence` - exact-match key for licence numbers (许可证编号);
* :func:`canonical_decision_no` - exact-match key for decision numbers (文号);
* :func:`looks_like_code` - whether a query is a code rather than a name;
* :func:`bigrams` - character bigrams for the search index.

No function here raises for any ``str`` input, except :func:`validate_uscc`,
which raises :class:`ValueError` by design.
"""

from __future__ import annotations

import operator
import re
import threading
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from stdnum.cn import uscc as _stdnum_uscc

from registry.messages import Message, MessageError, _

if TYPE_CHECKING:
    import opencc

__all__ = [
    "USCC_ALPHABET",
    "InvalidUscc",
    "bigrams",
    "canonical_decision_no",
    "canonical_licence",
    "canonical_uscc",
    "clean_display",
    "looks_like_code",
    "looks_like_uscc",
    "normalize",
    "valid_uscc",
    "validate_uscc",
]

# --------------------------------------------------------------------------
# Low-level helpers
# --------------------------------------------------------------------------

_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_WHITESPACE_RE = re.compile(r"\s+")
# Dash-like characters (after NFKC, U+FF0D and U+FE63 have become "-").
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d"
_DASH_RE = re.compile(f"[{re.escape(_DASHES)}]")
_USCC_JUNK_RE = re.compile(rf"[\s_{re.escape(_DASHES)}]+")

_converter: opencc.OpenCC | None = None
_converter_lock = threading.Lock()


def _t2s_converter() -> opencc.OpenCC:
    """Return the shared OpenCC traditional→simplified converter (created lazily)."""
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    return _converter


def _t2s(text: str) -> str:
    """Traditional → simplified Chinese; never raises (falls back to the input)."""
    if not text or text.isascii():
        return text
    try:
        converted: str = _t2s_converter().convert(text)
    except Exception:  # a normaliser must never fail on odd input
        return text
    return converted


def _fix_surrogates(text: str) -> str:
    """Join surrogate pairs into real characters; replace lone surrogates by U+FFFD."""
    if not _SURROGATE_RE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _strip_controls(text: str) -> str:
    """Turn every whitespace character into a space and drop other Cc/Cf characters.

    Cc covers C0/C1 controls including NUL; Cf covers bidi marks (U+200E/F,
    U+202A–E, U+2066–9), zero-width characters (U+200B–D, U+2060, U+FEFF) and
    the soft hyphen. Runs of whitespace are *not* collapsed here.
    """
    if text.isprintable():  # no Cc/Cf/Cs and no whitespace but " ": nothing to change
        return text
    out: list[str] = []
    for ch in text:
        if ch.isspace():
            out.append(" ")
        elif unicodedata.category(ch) not in ("Cc", "Cf", "Cs"):
            out.append(ch)
    return "".join(out)


def _squeeze(text: str) -> str:
    """Collapse whitespace runs to a single space and strip the ends."""
    return _WHITESPACE_RE.sub(" ", text).strip()


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", _fix_surrogates(text))


def _compact(text: str) -> str:
    """NFKC, then remove every whitespace and control/format character."""
    return _strip_controls(_nfkc(text)).replace(" ", "")


# --------------------------------------------------------------------------
# Free text
# --------------------------------------------------------------------------


def _normalize_once(text: str) -> str:
    # Controls must go before OpenCC: its C++ core works on UTF-8 strings.
    text = _strip_controls(_nfkc(text))
    converted = _t2s(text).casefold()
    if converted != text:
        # casefold() and t2s can produce text that is not NFKC (e.g. "İ" → "i̇").
        converted = _strip_controls(unicodedata.normalize("NFKC", converted))
    return _squeeze(converted)


def normalize(text: str) -> str:
    """Search/matching key for free text.

    NFKC (full-width → half-width), OpenCC traditional → simplified,
    ``casefold()``, control and format characters removed, whitespace runs
    collapsed to one space, ends stripped. Idempotent; never raises.
    """
    return _settled(_normalize_once, text)


def _settled(step: Callable[[str], str], text: str, passes: int = 3) -> str:
    """`step` applied until the text no longer changes, `passes` times at most. t2s is
    phrase based and not always idempotent (薴 → 苧 → 苎), and NFKC, casefold and t2s
    interact, so one pass is not always a fixed point; three settle every case seen in
    practice. A text a pass leaves as it is (most of them) costs that one pass."""
    for _pass in range(passes):
        again = step(text)
        if again == text:
            break
        text = again
    return text


# U+FF01–U+FF5E (full-width ASCII) except the Chinese full-width brackets （）,
# which are normal in Chinese company names; plus the ideographic space.
_FULLWIDTH_TO_ASCII = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
del _FULLWIDTH_TO_ASCII[0xFF08], _FULLWIDTH_TO_ASCII[0xFF09]
_FULLWIDTH_TO_ASCII[0x3000] = 0x20
_FULLWIDTH_RE = re.compile("[\uff01-\uff07\uff0a-\uff5e\u3000]")


def clean_display(text: str) -> str:
    """A name as entered, tidied for storage and display.

    Keeps the original characters (no OpenCC, no case change, no general NFKC)
    except that full-width ASCII forms (ＡＢＣ１２３ → ABC123) and the
    ideographic space become ASCII, while the Chinese full-width brackets
    （） are kept. Control/format characters are dropped, whitespace runs
    collapsed to one space, ends stripped. Never raises.
    """
    if text.isprintable():  # no surrogate, control or format character, no space but " "
        if _FULLWIDTH_RE.search(text):  # (U+3000 is not printable)
            text = text.translate(_FULLWIDTH_TO_ASCII)
        return text.strip() if "  " not in text else _squeeze(text)
    text = _fix_surrogates(text).translate(_FULLWIDTH_TO_ASCII)
    return _squeeze(_strip_controls(text))


# --------------------------------------------------------------------------
# Unified social credit code (统一社会信用代码, GB 32100-2015)
# --------------------------------------------------------------------------

#: The 31 characters a USCC may contain (no I, O, S, V, Z).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_CHARS = frozenset(USCC_ALPHABET)
_USCC_VALUES = {ch: value for value, ch in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# ASCII digits and capitals only: a fixed point of canonical_uscc
_PLAIN_CODE_RE = re.compile("[0-9A-Z]*")


class InvalidUscc(MessageError, ValueError):
    """A USCC that failed validation; ``reason`` is one of
    ``"empty"``, ``"length"``, ``"characters"``, ``"format"``, ``"checksum"``; ``message``
    says what is wrong, translated where it is shown (``str()`` is the Chinese text)."""

    def __init__(self, message: Message, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def canonical_uscc(value: str) -> str:
    """NFKC, drop whitespace, control characters, dashes and underscores, upper-case.

    Does not validate.
    """
    if _PLAIN_CODE_RE.fullmatch(value):
        return value
    text = _strip_controls(_nfkc(value))
    return _upper_nfkc(_USCC_JUNK_RE.sub("", text))


def looks_like_uscc(value: str) -> bool:
    """Whether the canonical form is 18 characters of the USCC alphabet (checksum ignored)."""
    code = canonical_uscc(value)
    return len(code) == 18 and all(ch in _USCC_CHARS for ch in code)


def valid_uscc(value: str) -> bool:
    """Whether ``value`` is a valid USCC (length, format and check character)."""
    code = canonical_uscc(value)
    return len(code) == 18 and _stdnum_uscc.is_valid(code)


def _uscc_check_character(first17: str) -> str:
    """The 18th character of a USCC whose first 17 are `first17` (all of the alphabet):
    GB 32100-2015, as python-stdnum's ``calc_check_digit``."""
    total = sum(map(operator.mul, map(_USCC_VALUES.__getitem__, first17), _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total) % 31]


def validate_uscc(value: str) -> str:
    """Return the canonical USCC or raise :class:`InvalidUscc` (a ``ValueError``).

    The message says whether the length, the characters, the format of the
    first 8 characters or the check character is wrong; for a bad checksum it
    names the expected check character.
    """
    code = canonical_uscc(value)
    if not code:
        raise InvalidUscc(_("统一社会信用代码为空"), "empty")
    bad = sorted({ch for ch in code if ch not in _USCC_CHARS}, key=code.index)
    if bad:
        raise InvalidUscc(
            _(
                "统一社会信用代码“%(code)s”含有无效字符：%(chars)s"
                "（只能使用数字和除 I、O、S、V、Z 以外的大写字母）",
                code=code,
                chars=tuple(bad),
            ),
            "characters",
        )
    if len(code) != 18:
        raise InvalidUscc(
            _(
                "统一社会信用代码应为18位，“%(code)s”为%(length)s位",
                code=code,
                length=len(code),
            ),
            "length",
        )
    if not code[:8].isdigit():
        raise InvalidUscc(
            _(
                "统一社会信用代码“%(code)s”的前8位（登记管理部门、机构类别、行政区划代码）应为数字",
                code=code,
            ),
            "format",
        )
    expected = _uscc_check_character(code[:17])
    if code[17] != expected:
        raise InvalidUscc(
            _(
                "统一社会信用代码“%(code)s”校验码错误：第18位应为“%(expected)s”，实为“%(got)s”",
                code=code,
                expected=expected,
                got=code[17],
            ),
            "checksum",
        )
    return code


# --------------------------------------------------------------------------
# Licence and decision numbers
# --------------------------------------------------------------------------

# Business category codes such as B2, A2.B1 followed by the serial number;
# not preceded by a Latin letter so that "ICP000001" is left alone.
_ICP_CERT_RE = re.compile("ICP证+")
_LICENCE_CATEGORY_RE = re.compile(r"(?<![A-Z])([AB][0-9](?:\.[AB][0-9])*)-?([0-9]{4,})")


def _upper_nfkc(text: str) -> str:
    """Upper-case and re-apply NFKC (``upper()`` of e.g. Greek is not always NFKC)."""
    for _pass in range(3):
        again = unicodedata.normalize("NFKC", text.upper())
        if again == text:
            break
        text = again
    return text


# A search asks for the licence and the decision number key of the same query in turn.
@lru_cache(maxsize=256)
def _code_base(value: str) -> str:
    """NFKC, controls and all whitespace removed, t2s, upper-case (to a fixed point)."""
    return _settled(_code_pass, _compact(value))


def _code_pass(text: str) -> str:
    return _upper_nfkc(_t2s(text))


# The last few thousand numbers: a firm's licence on several rows of an import, a number
# looked up again.
@lru_cache(maxsize=8192)
def canonical_licence(value: str) -> str:
    """Exact-match key for a licence number (许可证编号).

    ``京ICP证000001号``, ``京icp证 000001`` and ``京ICP證000001`` → ``京ICP000001``;
    ``B2-20090001``, ``b2－20090001``, ``B2 20090001``, ``B2—20090001``,
    ``B2-20090001号`` → ``B2-20090001``; ``粤B2-20100123`` keeps its prefix;
    ``A2.B1-20090003`` and ``A2．B1-20090003`` → ``A2.B1-20090003``.
    """
    text = _code_base(value)
    text = re.sub("-+", "-", _DASH_RE.sub("-", text))
    text = _ICP_CERT_RE.sub("ICP", text)
    text = text.rstrip("号")
    return _LICENCE_CATEGORY_RE.sub(r"\1-\2", text)


# Opening/closing brackets accepted around the year (after NFKC: （）→(), ［］→[],
# ﹝﹞→〔〕, ｛｝→{}, ＜＞→<>).
_OPEN_BRACKETS = "〔[(【〖〘{<《〈「『"
_CLOSE_BRACKETS = "〕])】〗〙}>》〉」』"
_YEAR_BRACKET_RE = re.compile(
    f"[{re.escape(_OPEN_BRACKETS)}]([0-9]{{4}})[{re.escape(_CLOSE_BRACKETS)}]"
)


def canonical_decision_no(value: str) -> str:
    """Exact-match key for a decision number (处罚决定书文号).

    ``粤通管罚[2020]12号``, ``粵通管罰（2020）12號`` and ``粤通管罚〔2020〕12号``
    all give ``粤通管罚〔2020〕12号``: NFKC, t2s, whitespace removed, any bracket
    pair around the 4-digit year unified to 〔〕, Latin letters upper-cased.
    """
    return _YEAR_BRACKET_RE.sub(r"〔\1〕", _code_base(value))


# --------------------------------------------------------------------------
# Query classification and search grams
# --------------------------------------------------------------------------

_DIGIT_RUN_RE = re.compile(r"[0-9]{4,}")
_CODE_MARK_RE = re.compile(
    f"[A-Za-z.\\-/#{re.escape(_OPEN_BRACKETS + _CLOSE_BRACKETS)}]|号|字|证|罚"
)


def looks_like_code(value: str) -> bool:
    """Whether a query looks like a USCC, licence number or decision number.

    True for the USCC shape, or for a run of at least 4 digits together with
    Latin letters or code punctuation (``-``, ``.``, ``/``, brackets) or the
    characters 号/字/证/罚. Used to rank exact code matches first.
    """
    if looks_like_uscc(value):
        return True
    text = _code_base(value)
    return bool(_DIGIT_RUN_RE.search(text) and _CODE_MARK_RE.search(text))


def bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of :func:`normalize` (``text``).

    Computed per run of non-space characters; a run of one character yields
    that character. Order is kept and duplicates are not removed. Every
    space-free substring of at least 2 characters of ``normalize(text)`` has
    all its bigrams in the result.
    """
    grams: list[str] = []
    for run in normalize(text).split(" "):
        if len(run) == 1:
            grams.append(run)
        else:
            grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams
