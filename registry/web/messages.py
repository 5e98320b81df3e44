"""Messages of the rules and services (registry.messages) shown in the request's language."""

from __future__ import annotations

from flask_babel import gettext

from registry.errors import error_text
from registry.messages import Message


def localize(text: str) -> str:
    """`text` in the request's language when it is a Message; any other string as it is
    (the web layer's own strings are translated already)."""
    if isinstance(text, Message):
        return text.translated(gettext)
    return text


def error_message(exc: BaseException) -> str:
    """What an error raised by the rules or a service says, in the request's language."""
    return error_text(exc, localize)
