"""The regulator back-office under /admin: one module per record type.

Views stay thin: a form checks shape, a service (taking the Actor) checks the rules and
writes the rows and their Event, the view commits once. Every route declares its policy
(policy.requires) and loads records through policy.load (tenancy)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from registry.web.admin import (  # noqa: E402,F401  (views register themselves on bp)
    catalogue,
    common,
    dashboard,
    enterprises,
    evidence,
    imports,
    listings,
    notices,
    petitions,
    sanctions,
    users,
)
