"""Tests for registry.text: the one text normalisation used everywhere."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from registry.messages import translate
from registry.text import (
    USCC_ALPHABET,
    InvalidUscc,
    bigrams,
    canonical_decision_no,
    canonical_licence,
    canonical_uscc,
    clean_display,
    looks_like_code,
    looks_like_uscc,
    normalize,
    valid_uscc,
    validate_uscc,
)

VALID_USCC = "91110108551385082Q"


def make_uscc(first17: str) -> str:
    return first17 + stdnum_uscc.calc_check_digit(first17)


# Characters that exercise OpenCC, NFKC, case folding and the control filters.
TRICKY = list(
    "廣東網絡科技有限公司發後於乾隆著髮臺灣電訊號罰證"
    "广东网络科技有限公司发后于干着台湾电信号罚证"
    "ＡＢＣａｂｃ１２３（）［］－．　"
    "İıßẞﬁΣσςǅ\u0307\u0301"
    "\x00\x07\t\n\r\x85\u00a0\u00ad\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202e\u2066\u2069\u2028\ufeff\ufffd"
    "😀👨‍👩‍👧"
    "\ud800\udc00\ud83d\ude00"
)
any_text = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.characters(categories=["Cs"]),
        st.sampled_from(TRICKY),
    ),
    max_size=60,
)


# --------------------------------------------------------------------------
# normalize
# --------------------------------------------------------------------------


def test_traditional_and_simplified_names_normalize_alike() -> None:
    assert normalize("廣東網絡科技有限公司") == normalize("广东网络科技有限公司")
    assert normalize("廣東網絡科技有限公司") == "广东网络科技有限公司"


def test_traditional_and_fullwidth_forms_normalize_alike() -> None:
    assert normalize("廣東ＡＢＣ網絡１２３") == normalize("广东abc网络123")
    assert normalize("ＡＢＣ") == "abc"


def test_fullwidth_latin_and_digits_become_ascii() -> None:
    assert normalize("Ｔｅｌｅｃｏｍ　２０２０") == "telecom 2020"


def test_normalize_case_folds() -> None:
    assert normalize("China TELECOM Straße") == normalize("china telecom strasse")


def test_normalize_collapses_whitespace_and_strips() -> None:
    assert normalize("  北京\t\n 移动\u3000\u00a0 通信  ") == "北京 移动 通信"


def test_normalize_removes_control_and_format_characters() -> None:
    assert normalize("北\x00京\u200b移\u200e动\u202e通\ufeff信\x07") == "北京移动通信"
    assert normalize("\u2066abc\u2069") == "abc"


def test_normalize_joins_surrogate_pairs_and_survives_lone_surrogates() -> None:
    assert normalize("\ud83d\ude00") == "😀"
    assert normalize("a\ud800b") == "a\ufffdb"
    assert normalize("\udfff") == "\ufffd"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\x00",
        "\x00" * 100,
        "\u200f\u202e\u2066RTL\u2069",
        "emoji 😀👨‍👩‍👧🇨🇳",
        "a\ud800",
        "\udc00\ud800",
        "廣東" * 5000,
        "x" * 10_000,
        "".join(chr(c) for c in range(0, 0x3000, 3)),
    ],
)
def test_odd_and_huge_inputs_never_raise(text: str) -> None:
    for func in (normalize, clean_display, canonical_uscc, canonical_licence):
        assert isinstance(func(text), str)
    assert isinstance(canonical_decision_no(text), str)
    assert isinstance(bigrams(text), list)
    assert isinstance(looks_like_code(text), bool)
    assert isinstance(looks_like_uscc(text), bool)
    assert isinstance(valid_uscc(text), bool)


def test_ten_thousand_character_input_is_normalized_fully() -> None:
    text = "廣東網絡" * 2500
    assert normalize(text) == "广东网络" * 2500


@settings(max_examples=300, deadline=None)
@given(any_text)
def test_normalize_is_idempotent_and_never_raises(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_normalize_output_has_no_controls_or_stray_whitespace(text: str) -> None:
    out = normalize(text)
    assert out == out.strip()
    assert "  " not in out
    assert all(ch == " " or not ch.isspace() for ch in out)
    assert "\x00" not in out and "\u200b" not in out and "\u202e" not in out


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_clean_display_is_idempotent_and_never_raises(text: str) -> None:
    once = clean_display(text)
    assert clean_display(once) == once


# --------------------------------------------------------------------------
# clean_display
# --------------------------------------------------------------------------


def test_clean_display_turns_fullwidth_latin_into_ascii() -> None:
    assert clean_display("ＡＢＣ网络１２３") == "ABC网络123"


def test_clean_display_keeps_chinese_brackets_and_traditional_characters() -> None:
    name = "廣東網絡科技有限公司（深圳分公司）"
    assert clean_display(name) == name


def test_clean_display_keeps_case() -> None:
    assert clean_display("China Telecom") == "China Telecom"


def test_clean_display_strips_controls_and_collapses_whitespace() -> None:
    assert clean_display(" \u200b北京\x00移动\u3000\u3000通信\u200e\n") == "北京移动 通信"


# --------------------------------------------------------------------------
# USCC
# --------------------------------------------------------------------------


def test_known_uscc_is_valid() -> None:
    assert valid_uscc(VALID_USCC)
    assert validate_uscc(VALID_USCC) == VALID_USCC


@pytest.mark.parametrize(
    "variant",
    [
        "91110108551385082q",
        " 9111 0108 5513 8508 2Q ",
        "911101-085513-85082Q",
        "91110108\u2014551385082Q",
        "91110108_551385082Q",
        "９１１１０１０８５５１３８５０８２Ｑ",
        "91110108\u200b551385082Q",
        "9111\t0108－551385082q",
    ],
)
def test_uscc_with_spaces_lower_case_and_dashes_validates(variant: str) -> None:
    assert canonical_uscc(variant) == VALID_USCC
    assert valid_uscc(variant)
    assert looks_like_uscc(variant)
    assert validate_uscc(variant) == VALID_USCC


def test_uscc_checksum_error_names_expected_check_character() -> None:
    with pytest.raises(ValueError, match="Q") as info:
        validate_uscc("91110108551385082A")
    message = str(info.value)
    assert "校验码" in message and "第18位应为“Q”，实为“A”" in message
    english = translate(message, "en")
    assert "bad check character" in english and "expected “Q”, got “A”" in english
    assert isinstance(info.value, InvalidUscc) and info.value.reason == "checksum"
    assert not valid_uscc("91110108551385082A")
    assert looks_like_uscc("91110108551385082A")


def test_uscc_wrong_length_is_reported_as_length() -> None:
    with pytest.raises(ValueError, match="18") as info:
        validate_uscc("9111010855138508")
    assert info.value.reason == "length"  # type: ignore[attr-defined]
    assert "16" in str(info.value)


@pytest.mark.parametrize("bad_char", ["I", "O", "S", "V", "Z"])
def test_uscc_with_excluded_letter_is_reported_as_bad_characters(bad_char: str) -> None:
    code = VALID_USCC[:10] + bad_char + VALID_USCC[11:]
    with pytest.raises(ValueError, match="I、O、S、V、Z") as info:
        validate_uscc(code)
    assert info.value.reason == "characters"  # type: ignore[attr-defined]
    assert f"无效字符：{bad_char}（" in str(info.value)
    assert f"invalid characters: {bad_char} (" in translate(str(info.value), "en")
    assert not valid_uscc(code)
    assert not looks_like_uscc(code)


def test_uscc_with_letters_in_first_eight_is_reported_as_format() -> None:
    first17 = "A1110108551385082"
    with pytest.raises(ValueError) as info:
        validate_uscc(first17 + "0")
    assert info.value.reason == "format"  # type: ignore[attr-defined]


def test_empty_uscc_is_rejected() -> None:
    with pytest.raises(ValueError, match="为空") as info:
        validate_uscc(" - ")
    assert translate(str(info.value), "en") == "the USCC is empty"


def test_computed_usccs_validate() -> None:
    for first17 in ("91440300MA5D12345", "12100000400000624", "52110000500012345"):
        code = make_uscc(first17)
        assert valid_uscc(code)
        assert validate_uscc(code.lower()) == code


uscc_first17 = st.tuples(
    st.text(alphabet="0123456789", min_size=8, max_size=8),
    st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9),
).map("".join)


@settings(max_examples=200, deadline=None)
@given(uscc_first17, st.lists(st.sampled_from([" ", "-", "－", "—", "_", "\u200b"]), max_size=3))
def test_any_well_formed_uscc_validates_in_any_spelling(first17: str, junk: list[str]) -> None:
    code = make_uscc(first17)
    spelled = "".join(junk) + code[:6].lower() + "".join(junk) + code[6:]
    assert validate_uscc(spelled) == code
    assert valid_uscc(spelled) and looks_like_uscc(spelled)


@settings(max_examples=300, deadline=None)
@given(st.one_of(any_text, st.text(alphabet=USCC_ALPHABET + "IOSVZ -", max_size=20)))
def test_validate_uscc_agrees_with_valid_uscc(text: str) -> None:
    try:
        code = validate_uscc(text)
    except ValueError:
        assert not valid_uscc(text)
    else:
        assert valid_uscc(text)
        assert looks_like_uscc(text)
        assert code == canonical_uscc(text)


# --------------------------------------------------------------------------
# Licence numbers
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "京ICP证000001号",
        "京icp证 000001",
        "京ICP证000001",
        "京ICP證000001號",
        "京ＩＣＰ证０００００１号",
    ],
)
def test_icp_licence_variants_map_to_one_key(variant: str) -> None:
    assert canonical_licence(variant) == canonical_licence("京ICP证000001号")
    assert canonical_licence(variant) == "京ICP000001"


@pytest.mark.parametrize(
    "variant",
    ["B2-20090001", "b2－20090001", "B2 20090001", "B2—20090001", "B2–20090001", "B2-20090001号"],
)
def test_category_licence_variants_map_to_one_key(variant: str) -> None:
    assert canonical_licence(variant) == "B2-20090001"


def test_licence_keeps_province_prefix() -> None:
    assert canonical_licence("粤B2-20100123") == "粤B2-20100123"
    assert canonical_licence("粵b2 20100123號") == "粤B2-20100123"
    assert canonical_licence("粤B2-20100123") != canonical_licence("B2-20100123")


def test_licence_keeps_dot_between_categories() -> None:
    assert canonical_licence("A2.B1-20090003") == "A2.B1-20090003"
    assert canonical_licence("A2．B1－20090003") == "A2.B1-20090003"
    assert canonical_licence("a2.b1 20090003") == "A2.B1-20090003"


def test_licence_key_is_idempotent() -> None:
    for value in ("京ICP证000001号", "b2－20090001", "A2．B1-20090003", "粤B2-20100123"):
        key = canonical_licence(value)
        assert canonical_licence(key) == key


code_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("ICPicp证證号號京粤粵ABab12.．-－— 〔〕[]（）【】0123456789B2")),
        st.sampled_from(TRICKY),
        st.characters(),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(code_text)
def test_code_keys_are_idempotent_and_never_raise(text: str) -> None:
    for func in (canonical_licence, canonical_decision_no, canonical_uscc):
        key = func(text)
        assert func(key) == key


# --------------------------------------------------------------------------
# Decision numbers
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "粤通管罚〔2020〕12号",
        "粤通管罚[2020]12号",
        "粵通管罰（2020）12號",
        "粤通管罚(2020)12号",
        "粤通管罚【2020】12号",
        "粤通管罚［2020］12号",
        "粤通管罚﹝2020﹞12号",
        "粤通管罚 〔 2020 〕 12 号",
        " 粤通管罚〔２０２０〕１２号 ",
    ],
)
def test_decision_number_bracket_variants_map_to_one_key(variant: str) -> None:
    assert canonical_decision_no(variant) == "粤通管罚〔2020〕12号"


def test_decision_number_upper_cases_latin_letters() -> None:
    assert canonical_decision_no("工信部ict罚[2021]3号") == "工信部ICT罚〔2021〕3号"


def test_decision_number_key_is_idempotent() -> None:
    key = canonical_decision_no("粵通管罰（2020）12號")
    assert canonical_decision_no(key) == key


# --------------------------------------------------------------------------
# looks_like_code
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        VALID_USCC,
        "91110108551385082A",
        "9111 0108 5513 8508 2q",
        "B2-20090001",
        "京ICP证000001号",
        "粤通管罚〔2020〕12号",
        "粤通管罚[2020]12号",
        "A2.B1-20090003",
    ],
)
def test_codes_look_like_codes(query: str) -> None:
    assert looks_like_code(query)


@pytest.mark.parametrize(
    "query", ["中国电信", "广东网络科技有限公司", "北京2008科技有限公司", "2020", "abc", "", "B2"]
)
def test_names_do_not_look_like_codes(query: str) -> None:
    assert not looks_like_code(query)


# --------------------------------------------------------------------------
# bigrams
# --------------------------------------------------------------------------


def test_bigrams_overlap_within_each_run() -> None:
    assert bigrams("中国电信") == ["中国", "国电", "电信"]
    assert bigrams("廣東 網") == ["广东", "网"]
    assert bigrams("ＡＢ c") == ["ab", "c"]


def test_bigrams_of_empty_or_blank_text_are_empty() -> None:
    assert bigrams("") == []
    assert bigrams(" \u200b\x00 ") == []


def test_bigrams_of_traditional_name_match_simplified_query() -> None:
    name_grams = set(bigrams("廣東網絡科技有限公司"))
    assert set(bigrams("网络科技")) <= name_grams


@settings(max_examples=300, deadline=None)
@given(any_text, st.data())
def test_every_substring_bigram_is_among_the_name_bigrams(name: str, data: st.DataObject) -> None:
    normalized = normalize(name)
    name_grams = set(bigrams(name))
    runs = [run for run in normalized.split(" ") if len(run) >= 2]
    if not runs:
        return
    run = data.draw(st.sampled_from(runs))
    start = data.draw(st.integers(0, len(run) - 2))
    end = data.draw(st.integers(start + 2, len(run)))
    sub = run[start:end]
    assert " " not in sub and len(sub) >= 2
    assert {sub[i : i + 2] for i in range(len(sub) - 1)} <= name_grams
