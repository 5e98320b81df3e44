"""The regulator back-office under /admin: one module per record type.

Views stay thin: a form checks shape, a service (taking the Actor) checks the rules and
writes the rows and their Event, the view commits once. Every route declares its policy
(policy.requires) and loads records through policy.load (tenancy)."""

from __future__ import annotations

from registry.web.admin.blueprint import bp

# isort: split
# The views register themselves on bp; bp is bound above first for the modules that
# still import it from this package.
from registry.web.admin import (  # noqa: F401
    bulk,
    campaigns,
    common,
    dashboard,
    enterprises,
    evidence,
    grounds,
    import_batches,
    imports,
    listings,
    notice_drafts,
    notices,
    petitions,
    registers,
    repair_rules,
    sanctions,
    submissions,
    users,
)

__all__ = ["bp"]
