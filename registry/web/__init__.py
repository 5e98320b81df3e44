"""Web layer: blueprints, locale selection, error pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from babel import Locale
from flask import Flask, Request, Response, current_app, g
from flask_babel import Babel, get_locale, get_translations
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup
from werkzeug.datastructures import ImmutableMultiDict, LanguageAccept
from werkzeug.http import parse_accept_header
from werkzeug.utils import get_content_type

from registry.context import current_flask_app, current_request

T = TypeVar("T")

SUPPORTED_LOCALES = ("zh_Hans", "en")
# Catalogues: messages.pot (Chinese source strings) and en/LC_MESSAGES/messages.{po,mo};
# `make translations` extracts and updates them (babel.cfg).
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
LANG_COOKIE_SECONDS = 365 * 24 * 3600
# What every answer's language depends on, besides its address (named in each answer's
# `Vary`, registry.web.security.answer_headers).
_VARY = ("Accept-Language", "Cookie")


def select_locale() -> Locale:
    # The parsed locale, not its name: Flask-Babel would parse the name on every request.
    # Inside a call of the app, the name the request's memo holds (request_locale_name).
    if _REQUEST_MEMO.get() is None:
        return _LOCALES[_wanted_locale()]
    return _LOCALES[request_locale_name()]


def _wanted_locale() -> str:
    """The name of the locale this request asks for."""
    current = current_request()
    environ = current.environ
    wanted = None
    # `?lang=`, else the `lang` cookie (each parsed only when the request could have it).
    query = environ.get("QUERY_STRING", "")
    if "lang" in query or "%" in query:  # (a name may be percent-encoded)
        wanted = _lang_arg()
    if not wanted and "lang" in environ.get("HTTP_COOKIE", ""):
        wanted = current.cookies.get("lang")
    if wanted not in SUPPORTED_LOCALES:
        wanted = _from_accept_language(environ.get("HTTP_ACCEPT_LANGUAGE", ""))
    return wanted  # type: ignore[return-value]


_LOCALES = {name: Locale.parse(name) for name in SUPPORTED_LOCALES}


def _lang_arg() -> str | None:
    """The first `lang` of the query string (`args.get` raises and catches an HTTP
    exception when there is none, the search pages' case; `getlist` a KeyError)."""
    args = current_request().args
    return args.getlist("lang")[0] if "lang" in args else None


@functools.lru_cache(maxsize=256)
def _from_accept_language(header: str) -> str:
    """The locale an Accept-Language header asks for: browsers send a few distinct
    headers, each parsed once per process."""
    best = parse_accept_header(header, LanguageAccept).best_match(["zh", "en"], default="zh")
    return "en" if best == "en" else "zh_Hans"


# What a request looks up again and again (its catalogue: once per string), kept for the
# length of one call of the app: a context variable is read without Flask's context proxies,
# each of which cost several times the lookup it stood for.
_REQUEST_MEMO: ContextVar[dict[str, Any] | None] = ContextVar("registry_request_memo", default=None)


def request_memo_scope(wsgi_app: Any) -> Any:
    """WSGI middleware: a fresh memo for each request, gone when the app returns (a body
    streamed afterwards, or a request context a test pushes, looks things up in `g`)."""

    def app_with_memo(environ: dict[str, Any], start_response: Any) -> Any:
        token = _REQUEST_MEMO.set({})
        try:
            return wsgi_app(environ, start_response)
        finally:
            _REQUEST_MEMO.reset(token)

    return app_with_memo


def request_memo() -> dict[str, Any] | None:
    """This request's memo (None outside a call of the app): what stays the same for the
    rest of the request, looked up once."""
    return _REQUEST_MEMO.get()


def request_translations() -> Any:
    """This request's catalogue (Flask-Babel's), kept after the first string."""
    memo = _REQUEST_MEMO.get()
    if memo is None:
        found = g.get("_translations")
        if found is None:
            found = g._translations = get_translations()
        return found
    found = memo.get("translations")
    if found is None:
        # Flask-Babel keeps each language's catalogue for as long as the app lives, but its
        # lookup goes through Flask's context proxies a dozen times: kept here by name.
        kept, _root = kept_by_app(_TRANSLATIONS)
        locale = request_locale_name()
        found = kept.get(locale)
        if found is None:
            found = kept[locale] = get_translations()
        memo["translations"] = found
    return found


_TRANSLATIONS = "registry_translations"


def gettext(string: str, **variables: Any) -> str:
    """Flask-Babel's `gettext` (the translation, formatted with `variables` when there are
    any), from the request's catalogue: looked up once per request, kept per language."""
    found = request_translations().ugettext(string)
    return found % variables if variables else found


_SITE_PARTS = "registry_site_parts"


def request_locale_name() -> str:
    """The name of this request's locale (`zh_Hans`, `en`), kept in the request's memo:
    Flask-Babel's `get_locale` goes through `g` three times a call."""
    memo = _REQUEST_MEMO.get()
    if memo is None:  # (a request context pushed without a call of the app)
        return str(get_locale() or "zh_Hans")
    found = memo.get("locale")
    if found is None:
        # What Flask-Babel's selector chooses (`select_locale`), without its context
        # lookups and the parsed locale's name built again.
        found = memo["locale"] = _wanted_locale()
    return found  # type: ignore[no-any-return]


def kept_by_app(name: str) -> tuple[dict[Any, Any], str]:
    """The current app's per-process dict `name` (in `app.extensions`) and the request's
    script root, what the layout's kept parts and links are keyed on: kept in the request's
    memo, looked up through Flask's proxies once per request, not once per part or link."""
    memo = _REQUEST_MEMO.get()
    found = memo.get(name) if memo is not None else None
    if found is None:
        found = (
            current_flask_app().extensions.setdefault(name, {}),
            current_request().environ.get("SCRIPT_NAME", ""),
        )
        if memo is not None:
            memo[name] = found
    return found


def kept_for_language(kind: str, name: str, build: Callable[[], T]) -> T:
    """`build()` for this request's language and script root, built once per process for
    each (`name`, script root, language) and kept in the per-process dict `kind`: the parts
    of the layout that depend on nothing else."""
    kept, root = kept_by_app(kind)
    key = (name, root, request_locale_name())
    found = kept.get(key)
    if found is None:
        if len(kept) >= 64:  # a few names, two languages: a bound, never reached
            kept.clear()
        found = kept[key] = build()
    return found


def site_part(name: str) -> Markup:
    """A template of the page layout that depends only on the language and the script root
    (the site's header and footer: links and their labels), rendered once per process for
    each pair and kept: the same on every page."""

    def build() -> Markup:
        html = current_app.jinja_env.get_template(name).render()
        # The output of one of our templates, rendered with autoescape (B704).
        return Markup(html)  # nosec B704

    return kept_for_language(_SITE_PARTS, name, build)


class Parameters(ImmutableMultiDict[str, str]):
    """A request's query string and form values. `get` and `getlist` of a name not given
    answer at once: MultiDict's raise an exception for it and catch it (`get` an HTTP
    exception), a few times for each page (its optional parameters)."""

    def get(self, key: str, default: Any = None, type: Any = None) -> Any:
        if key not in self:
            return default
        return super().get(key, default, type)

    def getlist(self, key: str, type: Any = None) -> Any:
        if key not in self:
            return []
        return super().getlist(key, type)


class AppRequest(Request):
    """Flask's request, its parameters and cookies in `Parameters`."""

    parameter_storage_class = Parameters
    dict_storage_class = Parameters


def query_is_text(current: Request) -> bool:
    """Whether the request's query string, percent-decoded, is UTF-8 text. Its parameters
    are parsed to tell, and kept as the request's `args` when it is: werkzeug's parse of
    text gives the same (it leaves only invalid bytes percent-encoded), so the query is
    decoded once for the input gate and the view."""
    try:
        pairs = parse_qsl(current.query_string.decode(), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return False
    current.args = current.parameter_storage_class(pairs)
    return True


_HTML = get_content_type(Response.default_mimetype or "text/html", "utf-8")


class AppResponse(Response):
    """Flask's response; one made without headers or a type (a view's markup) is given the
    default type without looking for a Content-Type in the headers it does not have (a
    lookup that raises an HTTP exception and catches it)."""

    def __init__(
        self,
        response: Any = None,
        status: Any = None,
        headers: Any = None,
        mimetype: str | None = None,
        content_type: str | None = None,
        direct_passthrough: bool = False,
    ) -> None:
        if content_type is None and mimetype is None and not headers:
            content_type = _HTML
        super().__init__(response, status, headers, mimetype, content_type, direct_passthrough)


def init_app(app: Flask) -> None:
    app.request_class = AppRequest
    app.response_class = AppResponse
    app.wsgi_app = request_memo_scope(app.wsgi_app)  # type: ignore[method-assign]
    _sync_checked_once(app)
    _init_babel(app)
    app.jinja_env.globals["site_part"] = site_part
    _register_public_views(app)

    from flask_wtf.csrf import CSRFProtect

    from registry.web import admin, auth, match, security

    app.config.setdefault("WTF_CSRF_TIME_LIMIT", app.config["SESSION_ABSOLUTE_HOURS"] * 3600)
    csrf = CSRFProtect(app)  # every POST carries the session's token, or nothing is written
    csrf.exempt(match.bp)  # read-only and sessionless: it writes nothing and reads no cookie
    security.check_csrf_for_unsafe_methods_only(app)
    security.init_app(app, vary=_VARY)
    auth.init_app(app)
    app.register_blueprint(admin.bp)
    _init_language_choice(app)

    from registry.web import cache, errors

    errors.init_app(app)
    cache.init_app(app)  # outermost: a kept answer skips everything above


def _sync_checked_once(app: Flask) -> None:
    """Flask asks of each view and hook, every time it calls one, whether it is a coroutine
    function (`inspect`'s check, seven times a request); the answer for a function is kept.
    The functions are the app's views and hooks, and those a request registers for itself,
    new each time: the answers kept are bounded."""
    check = app.ensure_sync
    known: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(func: Callable[..., Any]) -> Callable[..., Any]:
        found = known.get(func)
        if found is None:
            if len(known) >= 512:
                known.clear()
            found = known[func] = check(func)
        return found

    app.ensure_sync = ensure_sync  # type: ignore[method-assign]


def _init_babel(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    Babel(
        app,
        locale_selector=select_locale,
        default_locale="zh_Hans",
        default_timezone="Asia/Shanghai",
    )
    # Templates look the catalogue up once per request, not three context lookups per
    # string (gettext was a third of rendering a firm's page).
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: request_translations().unpgettext(c, s, p, n),
    )
    # `_` (and `gettext`) called straight from the template: Jinja's own pair goes through
    # three context calls per string, a tenth of rendering a search page.
    app.jinja_env.globals["_"] = app.jinja_env.globals["gettext"] = _template_gettext


@pass_eval_context
def _template_gettext(eval_ctx: EvalContext, string: str, /, **variables: Any) -> str:
    """What Jinja's new-style gettext does: the translation, marked safe when the
    template escapes, always a format string (a translation without `%` formats to itself,
    so it is not formatted)."""
    found = request_translations().ugettext(string)
    if eval_ctx.autoescape:
        # The text is a message of ours from the catalogue, never user input; Markup's `%`
        # escapes every variable formatted into it, as Jinja's own gettext does (B704).
        found = Markup(found)  # nosec B704
    return found % variables if variables or "%" in found else found


def _register_public_views(app: Flask) -> None:
    """The public site, API, data, feeds and log, with the followers they read from."""
    from registry.web import (
        api,
        campaigns,
        changes,
        data,
        feeds,
        health,
        indexing,
        log,
        mailing,
        match,
        public,
        report,
        screen,
        stats,
        submissions,
        watchlists,
    )

    app.register_blueprint(public.bp)
    indexing.init_app(app)
    health.init_app(app)
    for blueprint in (api.bp, match.bp, screen.bp, log.bp):
        app.register_blueprint(blueprint)
    data.init_app(app)
    for blueprint in (feeds.bp, stats.bp):
        app.register_blueprint(blueprint)
    for module in (submissions, mailing, watchlists):  # public writes and their followers
        module.init_app(app)
    for blueprint in (campaigns.bp, changes.bp, report.bp):
        app.register_blueprint(blueprint)


def _init_language_choice(app: Flask) -> None:
    @app.context_processor
    def locale_context() -> dict[str, object]:
        locale = request_locale_name()
        return {"html_lang": "en" if locale == "en" else "zh-Hans", "lang_url": lang_url}

    @app.after_request
    def remember_language(response: Response) -> Response:
        """`?lang=` chooses the language and keeps it (cookie `lang`) for the next pages."""
        current = current_request()
        query = current.environ.get("QUERY_STRING", "")
        wanted = _lang_arg() if "lang" in query or "%" in query else None
        if wanted in SUPPORTED_LOCALES and current.cookies.get("lang") != wanted:
            response.set_cookie(
                "lang",
                wanted,
                max_age=LANG_COOKIE_SECONDS,
                samesite="Lax",
                secure=bool(app.config.get("SECURE_COOKIES")),
                httponly=True,
            )
        return response


def lang_url(locale: str) -> str:
    """The current page (path and query string) in another language."""
    current = current_request()
    args = [(k, v) for k, v in current.args.items(multi=True) if k != "lang"]
    args.append(("lang", locale))
    return current.path + "?" + urlencode(args)
