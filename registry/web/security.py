"""Security headers on every response, and the session cookie flags."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, Request, Response, abort, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext as _

# No inline script anywhere: pages work without JavaScript, and what little there is lives
# in /static. frame-ancestors 'none' stops clickjacking of the back-office forms.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


# Integer path parameters beyond a 32-bit column cannot name a row (PostgreSQL `integer`
# overflows, SQLite's driver refuses past 64 bits): answered 404 before any query.
MAX_ROW_ID = 2**31 - 1


def _bad_text(value: str) -> bool:
    """NUL (PostgreSQL rejects it in text) or a lone surrogate (not encodable as UTF-8)."""
    return "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value)


def reject_hostile_input() -> None:
    """One gate for what no view can store or look up: NUL bytes and invalid UTF-8 in the
    path, the query string or form fields, and row ids out of range. A clear 400 (404 for a
    path) instead of a database error deep inside a view."""
    if "\x00" in request.path:
        abort(404)
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not 0 <= value <= MAX_ROW_ID:
            abort(404)
        if isinstance(value, str) and _bad_text(value):
            abort(404)
    raw = unquote_to_bytes(request.query_string.replace(b"+", b" "))
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        abort(400, _("网址参数不是有效的 UTF-8 文本。"))
    if request.method == "POST" and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        if request.mimetype == "application/x-www-form-urlencoded":
            body = unquote_to_bytes(request.get_data(cache=True).replace(b"+", b" "))
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                abort(400, _("表单内容不是有效的 UTF-8 文本。"))
        values = list(request.form.values()) + [f.filename or "" for f in request.files.values()]
        if any(_bad_text(value) for value in values):
            abort(400, _("表单内容含有不允许的控制字符。"))


_NUL = re.compile(r"%00", re.IGNORECASE)


def strip_nul_from_query(wsgi_app: Any) -> Any:
    """NUL in a query string is dropped before anyone parses it: a search for "a%00b" is a
    search for "ab" (bad syntax is searched as plain text), and no view can hand a NUL to
    PostgreSQL, which rejects it in text. The JSON API is held to its OpenAPI document
    instead: there a NUL is one more character of the value as sent, counted against the
    parameter's length limit before the API's own parsers drop it (api.text_arg), and a
    code or number with a NUL in it is refused as invalid."""

    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        query = environ.get("QUERY_STRING", "")
        if "%" in query and not environ.get("PATH_INFO", "").startswith("/api/"):
            environ["QUERY_STRING"] = _NUL.sub("", query)
        return wsgi_app(environ, start_response)

    return middleware


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions; a request without the cookie (every public visitor)
    gets an empty session without building the signer first."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class() if app.secret_key else None
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.wsgi_app = strip_nul_from_query(app.wsgi_app)  # type: ignore[method-assign]
    app.session_interface = CookieSessions()
    app.before_request(reject_hostile_input)
    secure = bool(app.config.get("SECURE_COOKIES"))
    app.config.update(
        SESSION_COOKIE_NAME="registry_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
    )

    wanted = list(HEADERS.items())
    if secure:
        wanted.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))

    @app.after_request
    def security_headers(response: Response) -> Response:
        # Those a view did not set itself (one pass over the headers, where a lookup of
        # each missing name raised and caught an exception).
        present = {name.lower() for name, _value in response.headers.items()}
        response.headers.extend([(k, v) for k, v in wanted if k.lower() not in present])
        if request.path.startswith("/admin"):
            # Regulator pages hold unpublished data: never cached by browsers or proxies.
            response.headers["Cache-Control"] = "no-store"
        return response
