"""The shortcuts of registry/text.py give what the general path gives.

`clean_display` returns printable text without running it through the surrogate and
control-character passes, `canonical_uscc` returns ASCII digits and capitals as they are,
and `validate_uscc` computes the check character itself. Each is compared here with the
general path (kept below as it was) on every code point and on random and realistic text.
"""

from __future__ import annotations

import random
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from registry import text
from registry.fakedata import firms


def general_clean_display(value: str) -> str:
    value = text._fix_surrogates(value).translate(text._FULLWIDTH_TO_ASCII)
    return text._squeeze(text._strip_controls(value))


def general_canonical_uscc(value: str) -> str:
    cleaned = text._strip_controls(text._nfkc(value))
    return text._upper_nfkc(text._USCC_JUNK_RE.sub("", cleaned))


def test_every_assigned_plane_s_code_points() -> None:
    # planes 0-2 and 14: the others hold no assigned character but private use
    for point in (*range(0x30000), *range(0xE0000, 0xE1000), sys.maxunicode):
        ch = chr(point)
        for value in (f" {ch}{ch}", f"{ch}  a"):
            assert text.clean_display(value) == general_clean_display(value), hex(point)
            assert text.canonical_uscc(value) == general_canonical_uscc(value), hex(point)


ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXYZIOSVabc -_\u3000\uff21\uff11 （）公司\t\u200b"


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from(ALPHABET), max_size=24) | st.text(max_size=24))
def test_random_text(value: str) -> None:
    assert text.clean_display(value) == general_clean_display(value)
    assert text.canonical_uscc(value) == general_canonical_uscc(value)


def test_the_check_character_is_stdnum_s() -> None:
    draw = random.Random(7)
    for _ in range(20_000):
        first17 = "".join(
            draw.choice(text.USCC_ALPHABET[:10] if i < 8 else text.USCC_ALPHABET) for i in range(17)
        )
        expected = stdnum_uscc.calc_check_digit(first17)
        assert text._uscc_check_character(first17) == expected
        assert text.validate_uscc(first17 + expected) == first17 + expected
        wrong = next(ch for ch in text.USCC_ALPHABET if ch != expected)
        assert not text.valid_uscc(first17 + wrong)


def test_generated_firms() -> None:
    for firm in firms(3000, seed=11):
        for value in (firm.name, firm.uscc or "", f" {firm.name}\u3000"):
            assert text.clean_display(value) == general_clean_display(value)
        if firm.uscc:
            assert text.validate_uscc(firm.uscc) == general_canonical_uscc(firm.uscc)
