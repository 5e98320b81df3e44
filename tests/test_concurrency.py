"""Two regulators editing the same record at the same moment: the second gets a conflict,
never a silent overwrite (optimistic locking with version_id_col)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import ConflictError
from registry.models import Listing
from registry.services import listings
from tests.factories import Factory


def test_second_concurrent_edit_of_a_listing_gets_a_conflict(own_engine):
    """On every backend, in a database of the test's own (the sessions commit)."""
    with Session(own_engine) as setup:
        make = Factory(setup)
        clerk = make.actor("clerk")
        listing_id = make.listing(clerk, facts="原始事实").id
        setup.commit()
    with (
        Session(own_engine, autoflush=False) as first,
        Session(own_engine, autoflush=False) as second,
    ):
        mine = first.get(Listing, listing_id)
        theirs = second.get(Listing, listing_id)
        assert mine.version_id == theirs.version_id
        listings.update_listing(first, clerk, mine, facts="第一位录入员的修改")
        first.commit()
        with pytest.raises(ConflictError):
            listings.update_listing(second, clerk, theirs, facts="第二位录入员的修改")
        second.rollback()
    with Session(own_engine) as check:
        assert check.get(Listing, listing_id).facts == "第一位录入员的修改"


def test_stale_version_detected_even_without_form_version(own_engine):
    """The UPDATE itself carries the version: a lost update is impossible even for callers
    that pass no expected_version."""
    with Session(own_engine) as setup:
        make = Factory(setup)
        clerk = make.actor("clerk")
        listing_id = make.listing(clerk).id
        setup.commit()
    with (
        Session(own_engine, autoflush=False) as first,
        Session(own_engine, autoflush=False) as second,
    ):
        a = first.get(Listing, listing_id)
        b = second.get(Listing, listing_id)
        a.facts = "A"
        first.commit()
        b.facts = "B"
        with pytest.raises(ConflictError):
            from registry.services.history import flush

            flush(second)
        second.rollback()
    with Session(own_engine) as check:
        assert check.scalar(select(Listing.facts).where(Listing.id == listing_id)) == "A"
