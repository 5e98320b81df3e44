"""Date arithmetic in SQL that SQLite and PostgreSQL spell differently.

Statistics group by Asia/Shanghai days, quarters and day counts inside the database; these
elements compile to each dialect's own functions. No Flask here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Date, Integer, cast, extract
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class shanghai_date(FunctionElement[date]):  # noqa: N801 - reads like the SQL function it is
    """The Asia/Shanghai calendar date of a UTC timestamp column (China keeps no DST)."""

    type = Date()
    inherit_cache = True
    name = "shanghai_date"


@compiles(shanghai_date, "postgresql")
def _shanghai_date_pg(element: shanghai_date, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    return f"CAST(({compiler.process(arg, **kw)} AT TIME ZONE 'Asia/Shanghai') AS DATE)"


@compiles(shanghai_date)
def _shanghai_date_default(element: shanghai_date, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite stores the UTC timestamp as text; DATE() shifts it by the fixed UTC+8.
    (arg,) = list(element.clauses)
    return f"DATE({compiler.process(arg, **kw)}, '+8 hours')"


class days_between(FunctionElement[int]):  # noqa: N801 - reads like the SQL function it is
    """Whole days from the second date to the first (later - earlier)."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


@compiles(days_between, "postgresql")
def _days_between_pg(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)})"


@compiles(days_between)
def _days_between_default(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (
        f"CAST(ROUND(JULIANDAY({compiler.process(later, **kw)})"
        f" - JULIANDAY({compiler.process(earlier, **kw)})) AS INTEGER)"
    )


def year_of(column: Any) -> ColumnElement[int]:
    return cast(extract("year", column), Integer)


def quarter_of(column: Any) -> ColumnElement[int]:
    """1..4; integer division on both dialects."""
    return (cast(extract("month", column), Integer) + 2) // 3
