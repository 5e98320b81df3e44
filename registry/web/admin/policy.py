"""Who may call which /admin route.

Every view in the admin blueprint declares its action with `@requires("publish")`; the
action is one of rules.ROLE_ACTIONS, so the role check is the same function the services
use. Records are loaded with `load(Model, id, action)`: a record of another authority the
user may not read is a 404 (its existence is not revealed), one they may read but not act
on is a 403. The services check again (rules.check_may), so a view that forgot would still
write nothing. tests/test_admin_policy.py checks that every admin route carries a policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, g, request
from flask_login import current_user

from registry import rules
from registry.database import get_session
from registry.rules import Actor

F = TypeVar("F", bound=Callable[..., Any])
security_log = logging.getLogger("registry.security")


def log_denial(status: int, reason: str) -> None:
    """Every refused back-office call is logged: who, what, where, so probing
    for other authorities' records shows in the log."""
    who = (
        f"{current_user.user.username} ({current_user.actor.role}, authority "
        f"{current_user.actor.authority_id})"
        if current_user.is_authenticated
        else "anonymous"
    )
    g.denial_logged = True
    security_log.warning(
        "denied %s %s %s to %s from %s: %s",
        status,
        request.method,
        request.path,
        who,
        request.remote_addr,
        reason,
    )


def deny(status: int, reason: str) -> None:
    log_denial(status, reason)
    abort(status)


def requires(action: str) -> Callable[[F], F]:
    """Login required, and the user's role must allow `action` (rules.ROLE_ACTIONS)."""
    if not any(action in actions for actions in rules.ROLE_ACTIONS.values()):
        raise ValueError(f"unknown action {action!r}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                log_denial(401, "not logged in")
                return current_app.login_manager.unauthorized()
            if action not in rules.ROLE_ACTIONS.get(current_user.actor.role, frozenset()):
                deny(403, f"role may not {action}")
            return view(*args, **kwargs)

        wrapper.required_action = action  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def actor() -> Actor:
    return current_user.actor


def load(model: type, record_id: int, action: str = "read", *, shared: bool = False) -> Any:
    """The record, if this user may see it (else 404) and do `action` on it (else 403).

    `shared`: reference data every regulator reads (operators: a bureau penalises a firm
    another authority registered); writing it still needs `action` on its authority."""
    record = get_session().get(model, record_id)
    who = actor()
    if record is None or not (shared or rules.may_read(who, record.authority_id)):
        deny(404, f"{model.__name__} {record_id} not readable")
    if action != "read" and not rules.may(who, action, record.authority_id):
        deny(403, f"may not {action} {model.__name__} {record_id} of another authority")
    return record
