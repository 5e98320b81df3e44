"""Messages for people from code that does not know who reads them (rules, services, CLI).

`_("该文号已登记：%(number)s", number=n)` marks a Chinese source string for the Babel
catalogue (`make translations` extracts `_` calls) and returns a `Message`: the Chinese text
with its parameters filled in, which is what `str()` shows, plus the msgid and parameters, so
the web layer and the CLI translate it into the reader's language when they show it
(`registry.web.messages.localize`, `translate` here). A parameter that is itself a Message is
translated with it; a tuple or list parameter is shown as a list ("B1、B2" in Chinese, "B1, B2"
in English). No Flask: rules and services stay plain Python.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DEFAULT_LOCALE = "zh_Hans"


def N_(msgid: str) -> str:
    """Mark a string for the catalogue without translating it here."""
    return msgid


# How the items of a list parameter are separated, in the catalogue's language.
LIST_SEPARATOR = N_("、")


class Message(str):
    """A Chinese message (the str itself) that remembers its msgid and parameters."""

    msgid: str
    params: Mapping[str, object]

    def __new__(cls, msgid: str, params: Mapping[str, object] | None = None) -> Message:
        frozen = MappingProxyType(
            {k: tuple(v) if isinstance(v, list) else v for k, v in (params or {}).items()}
        )
        self = super().__new__(cls, _format(msgid, frozen, _identity))
        self.msgid = msgid
        self.params = frozen
        return self

    def translated(self, gettext: _Gettext) -> str:
        """The message in the language of `gettext` (a catalogue's gettext function)."""
        return _format(gettext(self.msgid), self.params, gettext)

    def __reduce__(self) -> tuple[type[Message], tuple[str, dict[str, object]]]:
        return (Message, (self.msgid, dict(self.params)))


class MessageError(Exception):
    """An error whose `message` (a Message) says what is wrong; `str()` is the Message
    itself, so that whoever shows the error can translate it. Mixed in before the error's
    own base (DomainError, ValueError)."""

    def __init__(self, message: Message) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> Message:
        return self.message


class _Gettext(Protocol):
    def __call__(self, message: str, /) -> str: ...


def _identity(message: str, /) -> str:
    return message


def _format(text: str, params: Mapping[str, object], gettext: _Gettext) -> str:
    """`text` with its parameters, those that are Messages or lists in `gettext`'s language.
    Same rule as gettext: the %-formatting applies only when there are parameters."""
    if not params:
        return text
    return text % {name: _shown(value, gettext) for name, value in params.items()}


def _shown(value: object, gettext: _Gettext) -> object:
    if isinstance(value, Message):
        return value.translated(gettext)
    if isinstance(value, tuple):
        return gettext(LIST_SEPARATOR).join(str(_shown(item, gettext)) for item in value)
    return value


def _(msgid: str, **params: object) -> Message:
    """Mark a Chinese source string for the catalogue; translated where it is shown."""
    return Message(msgid, params)


@cache
def catalogue(locale: str) -> NullTranslations:
    """The compiled catalogue for `locale` (the Chinese source strings when there is none)."""
    return Translations.load(str(TRANSLATIONS_DIR), [locale])


def translate(text: str, locale: str) -> str:
    """`text` in `locale` when it is a Message; any other string as it is."""
    if isinstance(text, Message):
        return text.translated(catalogue(locale).gettext)
    return text


def console_locale(environ: Mapping[str, str] | None = None) -> str:
    """The language of the command line: English when the POSIX locale (LANGUAGE, LC_ALL,
    LC_MESSAGES, LANG, first one set) is English, Chinese otherwise."""
    environ = os.environ if environ is None else environ
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            return "en" if value.split(":")[0].lower().startswith("en") else DEFAULT_LOCALE
    return DEFAULT_LOCALE


def for_console(text: str) -> str:
    """`text` in the command line's language."""
    return translate(text, console_locale())
