"""Domain errors raised by services; the web layer maps them to 4xx answers."""

from __future__ import annotations

from registry.rules import RuleViolation  # re-exported: services raise it as is


class DomainError(Exception):
    """Base of every error a user can cause and correct."""


class ValidationError(DomainError):
    """Bad data; `errors` maps field names to messages for the form that sent them."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotFoundError(DomainError):
    pass


class ConflictError(DomainError):
    """Someone else saved the record in between (optimistic locking)."""


class ForbiddenError(DomainError):
    pass


__all__ = [
    "ConflictError",
    "DomainError",
    "ForbiddenError",
    "NotFoundError",
    "RuleViolation",
    "ValidationError",
]
