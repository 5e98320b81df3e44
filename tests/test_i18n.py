"""The English translation (every UI string goes through Flask-Babel, with an English
translation): the locale follows `?lang=`, the `lang` cookie and Accept-Language; the
catalogue covers every source string; the committed .mo is the compiled .po."""

from __future__ import annotations

import gettext
import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlalchemy import select

from registry.models import Authority, Enterprise, Ground

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE_DIR = ROOT / "registry" / "translations" / "en" / "LC_MESSAGES"
PO = CATALOGUE_DIR / "messages.po"
MO = CATALOGUE_DIR / "messages.mo"
# Han ideographs (CJK Unified Ideographs, extension A, compatibility ideographs).
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# The Makefile's `pybabel extract`: Babel's default keywords (`_`, `gettext`, `N_`, …) and ours.
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}

# page → a sentence only its English version contains
PAGES = {
    "/": "Latest listings",
    "/search": "Operator name (two characters or more)",
    "/about": "About these lists",
    "/lists/bad": "Bad-conduct list of telecom operators",
    "/admin/login": "Regulator login",
}


def read_catalogue():
    with PO.open("rb") as fh:
        return read_po(fh, locale="en")


def source_msgids() -> set[str]:
    """Every msgid in the code and templates now, extracted as `make translations` does."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


@pytest.mark.parametrize("path", PAGES)
def test_lang_query_renders_english(client, path):
    page = client.get(path + "?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert PAGES[path] in page
    assert "Telecom operator credit lists" in page


@pytest.mark.parametrize("path", PAGES)
def test_accept_language_renders_english(client, path):
    response = client.get(path, headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    page = response.get_data(as_text=True)
    assert '<html lang="en">' in page
    assert PAGES[path] in page
    assert "Accept-Language" in response.headers.get("Vary", "")


@pytest.mark.parametrize("path", PAGES)
def test_chinese_is_the_default(client, path):
    page = client.get(path).get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page
    assert PAGES[path] not in page
    assert "电信业务经营者信用名单" in page


def test_query_beats_accept_language_and_unknown_lang_is_ignored(client):
    page = client.get("/about?lang=zh_Hans", headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "关于本名单" in page
    response = client.get("/about?lang=xx")
    assert response.status_code == 200
    assert "关于本名单" in response.get_data(as_text=True)
    assert "lang=" not in response.headers.get("Set-Cookie", "")


def test_lang_query_is_remembered_in_a_cookie(client):
    response = client.get("/?lang=en")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=en;")
    assert "SameSite=Lax" in cookie
    # the next page, without ?lang=, stays English, even with a Chinese Accept-Language
    page = client.get("/about", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "About these lists" in page
    client.get("/?lang=zh_Hans")
    assert "关于本名单" in client.get("/about").get_data(as_text=True)


def test_language_switch_links_to_the_same_page(client):
    page = client.get("/search?q=%E8%85%BE%E8%AE%AF&province=440000").get_data(as_text=True)
    switch = re.search(r'<a href="([^"]+)" lang="en" hreflang="en">English</a>', page)
    assert switch, "no link to the English page"
    href = switch.group(1).replace("&amp;", "&")
    assert href.startswith("/search?")
    assert "q=%E8%85%BE%E8%AE%AF" in href and "province=440000" in href and "lang=en" in href
    english = client.get(href).get_data(as_text=True)
    assert re.search(r'<a href="/search\?[^"]*lang=zh_Hans" lang="zh-Hans"', english)
    assert "lang=en" not in re.search(r'href="(/search\?[^"]*lang=zh_Hans)"', english).group(1)


def test_error_messages_follow_the_language(client):
    response = client.get("/search?page=abc&lang=en")
    assert response.status_code == 400
    assert "Invalid page number." in response.get_data(as_text=True)
    response = client.get("/api/v1/listings?page=x", headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "Parameter page must be an integer"


def test_english_home_page_has_no_chinese_apart_from_data(client, session, make):
    clerk, reviewer = make.actor("clerk"), make.actor("reviewer")
    make.published_listing(clerk, reviewer, "B3")
    make.published_listing(clerk, reviewer, "D1")
    session.flush()
    page = client.get("/?lang=en").get_data(as_text=True)
    assert "Latest listings" in page and "Bad-conduct list" in page
    # Data (firm, authority and ground names) stays as entered; the link to the Chinese
    # page is marked lang="zh-Hans". Everything else is template text and must be English.
    data = [
        *session.scalars(select(Enterprise.name)),
        *session.scalars(select(Authority.name)),
        *session.scalars(select(Ground.title)),
    ]
    for value in sorted(data, key=len, reverse=True):
        page = page.replace(value, "")
    page = re.sub(r'<a [^>]*lang="zh-Hans"[^>]*>[^<]*</a>', "", page)
    leftovers = [page[max(m.start() - 30, 0) : m.end() + 30] for m in HAN.finditer(page)]
    assert not leftovers, leftovers


def test_every_msgid_has_an_english_translation():
    """Fuzzy entries count as missing: Flask-Babel would not use them."""
    catalogue = read_catalogue()
    missing = [
        message.id
        for message in catalogue
        if message.id
        and (
            "fuzzy" in message.flags
            or not all(message.string if isinstance(message.string, tuple) else (message.string,))
        )
    ]
    assert not missing, f"untranslated or fuzzy in {PO}: {missing}"


def test_translations_keep_the_placeholders():
    catalogue = read_catalogue()
    problems = [(message.id, errors) for message, errors in catalogue.check()]
    assert not problems
    for message in catalogue:
        if message.id and isinstance(message.id, str):
            assert set(re.findall(r"%\(\w+\)\w", message.id)) == set(
                re.findall(r"%\(\w+\)\w", message.string)
            ), message.id


def test_translations_add_no_markup():
    """Jinja's i18n extension marks a translation safe (HTML), so `<`, `>` or `&` in an
    msgstr would reach the page unescaped."""
    catalogue = read_catalogue()
    for message in catalogue:
        if message.id and isinstance(message.id, str):
            for char in "<>&":
                assert message.string.count(char) == message.id.count(char), message.string


def test_catalogue_covers_every_source_string():
    """A string added to a template or a view without `make translations` fails here."""
    catalogue = read_catalogue()
    translated = {
        message.id if isinstance(message.id, str) else message.id[0] for message in catalogue
    }
    missing = sorted(source_msgids() - translated)
    assert not missing, f"run `make translations` and translate: {missing}"


def test_every_catalogue_string_is_found_in_the_sources():
    """`make translations` keeps only the strings it extracts: a message the code looks up
    without a marked call (`_`, `N_`, …) would leave the catalogue and show untranslated."""
    catalogue = read_catalogue()
    kept = {message.id if isinstance(message.id, str) else message.id[0] for message in catalogue}
    unmarked = sorted(kept - source_msgids() - {""})
    assert not unmarked, f"mark these where they are used, or drop them: {unmarked}"


def test_extractor_finds_calls_inside_f_strings():
    """Babel's token-based Python extractor misses `_()` inside an f-string on Python < 3.12;
    ours reads the syntax tree."""
    source = (
        "line = f\"{_('移出日期')}：{day}\"\n"
        'label = _l("草稿")\n'
        'text = ngettext("%(n)d 条", "%(n)d 条", n)\n'
        "skipped = _(variable)\n"
    ).encode()
    found = [
        (lineno, message)
        for lineno, message, _comments, _context in extract(
            "registry.translations:extract_python", io.BytesIO(source), keywords=KEYWORDS
        )
    ]
    assert found == [(1, "移出日期"), (2, "草稿"), (3, ("%(n)d 条", "%(n)d 条"))]


def test_committed_mo_is_the_compiled_po():
    """The .mo is committed (installs and deploys need no build step); it must match the .po."""
    catalogue = read_catalogue()
    with MO.open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)
    expected = {
        message.id: message.string
        for message in catalogue
        if message.id and isinstance(message.id, str) and "fuzzy" not in message.flags
    }
    actual = {key: value for key, value in compiled._catalog.items() if key}
    assert actual == expected, "run `make translations` (pybabel compile) and commit the .mo"
