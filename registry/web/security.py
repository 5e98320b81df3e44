"""Security headers on every response, and the session cookie flags."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, Request, Response, abort
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_babel import gettext as _

from registry.web import current_request, query_is_text

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
    if "\x00" in value:
        return True
    return not value.isascii() and any("\ud800" <= c <= "\udfff" for c in value)


def reject_hostile_input() -> None:
    """One gate for what no view can store or look up: NUL bytes and invalid UTF-8 in the
    path, the query string or form fields, and row ids out of range. A clear 400 (404 for a
    path) instead of a database error deep inside a view."""
    # The request itself: each use of the `request` proxy is a context lookup.
    current = current_request()
    if "\x00" in current.path:
        abort(404)
    for value in (current.view_args or {}).values():
        if isinstance(value, int) and not 0 <= value <= MAX_ROW_ID:
            abort(404)
        if isinstance(value, str) and _bad_text(value):
            abort(404)
    query = current.query_string
    # (ASCII without escapes is valid UTF-8)
    if (b"%" in query or not query.isascii()) and not query_is_text(current):
        abort(400, _("网址参数不是有效的 UTF-8 文本。"))
    if current.method == "POST" and current.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        if current.mimetype == "application/x-www-form-urlencoded":
            body = unquote_to_bytes(current.get_data(cache=True).replace(b"+", b" "))
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                abort(400, _("表单内容不是有效的 UTF-8 文本。"))
        values = list(current.form.values()) + [f.filename or "" for f in current.files.values()]
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
    """Flask's signed-cookie sessions. A request without the cookie (every public visitor)
    gets an empty session without parsing its cookies or building the signer, and an empty
    session nothing wrote to is not saved."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # (the Cookie header parsed only when it could hold the session's cookie)
        name = self.get_cookie_name(app)
        if name not in request.environ.get("HTTP_COOKIE", "") or not request.cookies.get(name):
            return self.session_class() if app.secret_key else None
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # Flask sets no cookie for such a session either; it would add `Vary: Cookie` when
        # the session was read, which every answer carries already (remember_language,
        # registry.web), after parsing the Vary header again to find it there.
        if not session and not session.modified:
            return
        super().save_session(app, session, response)


def check_csrf_for_unsafe_methods_only(app: Flask) -> None:
    """Flask-WTF's before-request check looks up whether the view is exempt before it
    looks at the method, on every request; for a method outside WTF_CSRF_METHODS it then
    does nothing. Its hook is called for those methods only (GET, HEAD and OPTIONS skip it)."""
    hooks = app.before_request_funcs.get(None, [])
    for index, hook in enumerate(hooks):
        if hook.__module__ == "flask_wtf.csrf" and hook.__name__ == "csrf_protect":
            hooks[index] = _for_unsafe_methods(app, hook)


def _for_unsafe_methods(app: Flask, check: Callable[[], Any]) -> Callable[[], Any]:
    @functools.wraps(check)
    def csrf_protect() -> Any:
        if current_request().method in app.config["WTF_CSRF_METHODS"]:
            return check()
        return None

    return csrf_protect


def answer_headers(wsgi_app: Any, wanted: list[tuple[str, str]], vary: tuple[str, ...]) -> Any:
    """WSGI middleware: the headers every answer carries, added to its header list as it
    starts (one pass over the list, where an after-request hook went through the response's
    header object once for each header it looked for or added):

    - each of `wanted` (the security headers) that the view did not set itself;
    - `Vary` naming `vary` (what the answer's language depends on), merged with a `Vary`
      the view set;
    - `Cache-Control: no-store` on the back office: regulator pages hold unpublished data,
      never cached by browsers or proxies.
    """
    wanted_by_key = [(name.lower(), (name, value)) for name, value in wanted]
    vary_header = ("Vary", ", ".join(vary)) if vary else None
    no_store = ("Cache-Control", "no-store")

    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        back_office = environ.get("PATH_INFO", "").startswith("/admin")

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _value in headers}
            headers.extend(header for key, header in wanted_by_key if key not in present)
            if vary_header is not None and "vary" in present:
                _merge_vary(headers, vary)
            elif vary_header is not None:
                headers.append(vary_header)
            if back_office:
                headers[:] = [h for h in headers if h[0].lower() != "cache-control"]
                headers.append(no_store)
            return start_response(status, headers, exc_info)

        return wsgi_app(environ, start)

    return middleware


def _merge_vary(headers: list[tuple[str, str]], names: tuple[str, ...]) -> None:
    """The answer's `Vary` headers as one, naming `names` too."""
    items = [
        item.strip()
        for name, value in headers
        if name.lower() == "vary"
        for item in value.split(",")
        if item.strip()
    ]
    known = {item.lower() for item in items}
    items += [name for name in names if name.lower() not in known]
    headers[:] = [h for h in headers if h[0].lower() != "vary"]
    headers.append(("Vary", ", ".join(items)))


def init_app(app: Flask, vary: tuple[str, ...] = ()) -> None:
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
    app.wsgi_app = answer_headers(app.wsgi_app, wanted, vary)  # type: ignore[method-assign]
