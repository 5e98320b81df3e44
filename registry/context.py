"""The request, the app and the request's globals being served, read past Flask's context
proxies: for the web layer (registry.web) and the database layer (registry.database) alike.

An attribute read through a proxy (`request`, `current_app`, `g`) is first looked up on the
proxy's own class, which fails, making an AttributeError (its message formatted) that is
dropped before the object itself is asked; on a page's path those reads added up. Each
helper asks the proxy once for the object it stands for.
"""

from __future__ import annotations

from flask import Flask, Request, current_app, g, request
from flask.ctx import _AppCtxGlobals


def current_request() -> Request:
    """The request being served (Flask's `request`, without its proxy)."""
    return request._get_current_object()  # type: ignore[attr-defined]


def current_flask_app() -> Flask:
    """The app serving (Flask's `current_app`, without its proxy)."""
    return current_app._get_current_object()  # type: ignore[attr-defined]


def current_globals() -> _AppCtxGlobals:
    """The app context's globals (Flask's `g`, without its proxy)."""
    return g._get_current_object()
