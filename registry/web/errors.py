"""Error pages: HTML for pages, JSON for the API; a 4xx for bad input, never a 500."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from registry.errors import ConflictError, DomainError, ForbiddenError, NotFoundError
from registry.rules import RuleViolation
from registry.search import IndexUnavailable
from registry.web.messages import error_message

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 30

FORBIDDEN_RULES = frozenset({"forbidden", "four_eyes"})


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _render(status: int, title: str, message: str, headers: list[tuple[str, str]] | None = None):
    headers = headers or []
    if _wants_json():
        return {"error": {"code": status, "message": message}}, status, headers
    page = render_template("error.html", status=status, title=title, message=message)
    return page, status, headers


def _unavailable(title: str, message: str):
    """A 503 that tells the client when to try again."""
    return _render(503, title, message, [("Retry-After", str(RETRY_AFTER_SECONDS))])


def _exception_headers(exc: HTTPException) -> list[tuple[str, str]]:
    """The headers the exception's own answer would carry: `Allow` on a 405 (RFC 9110),
    `Retry-After`, `WWW-Authenticate`; the body, and so its type, is ours."""
    return [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]


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
        return _render(
            exc.code or 500, exc.name, exc.description or exc.name, _exception_headers(exc)
        )

    @app.errorhandler(IndexUnavailable)
    def index_unavailable(exc: IndexUnavailable):
        log.error("search answered 503: the index cannot be read (%s)", exc)
        message = _("搜索索引暂时无法读取，请稍后再试。其他页面不受影响。")
        return _unavailable(_("搜索暂不可用"), message)

    @app.errorhandler(DBAPIError)
    def database_unavailable(exc: DBAPIError):
        if not exc.connection_invalidated and not _is_disconnect(exc):
            raise exc
        log.error("answered 503: the database is unreachable (%s)", exc.orig)
        return _unavailable(_("服务暂不可用"), _("数据库暂时无法连接，请稍后再试。"))

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


def _is_disconnect(exc: DBAPIError) -> bool:
    """A lost or refused connection (the server restarting), as opposed to a bad statement."""
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)
