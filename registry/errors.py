"""Domain errors raised by services; the web layer maps them to 4xx answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from registry.rules import RuleViolation  # re-exported: services raise it as is


class DomainError(Exception):
    """Base of every error a user can cause and correct."""


class ValidationError(DomainError):
    """Bad data; `errors` maps field names to messages for the form that sent them."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


class NotFoundError(DomainError):
    pass


class ConflictError(DomainError):
    """Someone else saved the record in between (optimistic locking)."""


class ForbiddenError(DomainError):
    pass


def error_text(exc: BaseException, translate: Callable[[str], str]) -> str:
    """What an error raised by the rules or a service says, each message passed through
    `translate` (the reader's language: registry.messages.for_console, or the web's)."""
    if isinstance(exc, ValidationError):
        return "; ".join(translate(message) for message in exc.errors.values())
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        return translate(message)
    if exc.args and isinstance(exc.args[0], str):
        return translate(exc.args[0])
    return str(exc)


__all__ = [
    "ConflictError",
    "DomainError",
    "ForbiddenError",
    "NotFoundError",
    "RuleViolation",
    "ValidationError",
    "error_text",
]
