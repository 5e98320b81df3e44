"""Error pages: HTML for pages, JSON for the API; a 4xx for bad input, never a 500."""

from __future__ import annotations

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException

from registry.errors import ConflictError, DomainError, ForbiddenError, NotFoundError
from registry.rules import RuleViolation
from registry.web.messages import error_message

FORBIDDEN_RULES = frozenset({"forbidden", "four_eyes"})


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _render(status: int, title: str, message: str):
    if _wants_json():
        return {"error": {"code": status, "message": message}}, status
    return render_template("error.html", status=status, title=title, message=message), status


def _log_denial(status: int, reason: str) -> None:
    """A refusal by the services (the second line of defence) is logged like one by a view."""
    from registry.web.admin.policy import log_denial

    log_denial(status, reason)


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code in (403, 404) and request.path.startswith("/admin"):
            from flask import g
            from flask_login import current_user

            if current_user.is_authenticated and not g.get("denial_logged"):
                _log_denial(exc.code, exc.description or exc.name)
        return _render(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(NotFoundError)
    def not_found(exc: NotFoundError):
        return _render(404, "Not Found", error_message(exc))

    @app.errorhandler(ConflictError)
    def conflict(exc: ConflictError):
        return _render(409, "Conflict", error_message(exc))

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return _render(400, "Bad Request", error_message(exc))

    @app.errorhandler(ForbiddenError)
    def forbidden(exc: ForbiddenError):
        _log_denial(403, str(exc))
        return _render(403, "Forbidden", error_message(exc))

    @app.errorhandler(RuleViolation)
    def rule_violation(exc: RuleViolation):
        status = 403 if exc.code in FORBIDDEN_RULES else 400
        if status == 403:
            _log_denial(403, f"{exc.code}: {exc.message}")
        return _render(status, "Forbidden" if status == 403 else "Bad Request", error_message(exc))
