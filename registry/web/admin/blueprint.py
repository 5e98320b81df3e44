"""The back office's blueprint, in a module of its own so the view modules can register
on it without importing the package that imports them."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
