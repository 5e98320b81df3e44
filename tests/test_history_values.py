"""How the history (registry.services.history) writes column values into an Event."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from registry.services.history import jsonable_values

BEIJING = timezone(timedelta(hours=8))


def test_equal_instants_in_other_zones_and_a_day_keep_their_own_text():
    """Values that compare equal but read differently are written as each reads, however
    many times they recur (the text of a repeated value is remembered)."""
    utc = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    beijing = utc.astimezone(BEIJING)
    naive = datetime(2026, 12, 4)
    values = {"a": utc, "b": beijing, "c": naive, "d": date(2026, 12, 4)}
    for _ in range(3):
        assert jsonable_values(values) == {
            "a": "2026-12-04T00:00:00+00:00",
            "b": "2026-12-04T08:00:00+08:00",
            "c": "2026-12-04T00:00:00",
            "d": "2026-12-04",
        }
    assert jsonable_values({"e": Decimal("1.50"), "f": [date(2026, 1, 2)], "g": "x"}) == {
        "e": "1.50",
        "f": ["2026-01-02"],
        "g": "x",
    }
