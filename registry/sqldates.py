"""Date arithmetic in SQL that SQLite and PostgreSQL spell differently.

Statistics group by Asia/Shanghai days, quarters and day counts inside the database; these
elements compile to each dialect's own functions. No Flask here.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, TypeVar

from sqlalchemy import ColumnElement, Date, Integer, cast, extract
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

T = TypeVar("T")


class _Spelled(FunctionElement[T]):
    """A SQL function spelled by a template per dialect: `postgresql` or `default` (SQLite),
    with {0}, {1}, ... standing for the compiled arguments."""

    inherit_cache = True
    postgresql: ClassVar[str]
    default: ClassVar[str]


def _arguments(element: _Spelled[Any], compiler: SQLCompiler, kw: dict[str, Any]) -> list[str]:
    return [compiler.process(argument, **kw) for argument in element.clauses]


@compiles(_Spelled, "postgresql")
def _spelled_pg(element: _Spelled[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return element.postgresql.format(*_arguments(element, compiler, kw))


@compiles(_Spelled)
def _spelled_default(element: _Spelled[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return element.default.format(*_arguments(element, compiler, kw))


class shanghai_date(_Spelled[date]):  # noqa: N801 - reads like the SQL function it is
    """The Asia/Shanghai calendar date of a UTC timestamp column (China keeps no DST)."""

    type = Date()
    inherit_cache = True  # SQLAlchemy asks each class for it
    name = "shanghai_date"
    postgresql = "CAST(({0} AT TIME ZONE 'Asia/Shanghai') AS DATE)"
    # SQLite stores the UTC timestamp as text; DATE() shifts it by the fixed UTC+8.
    default = "DATE({0}, '+8 hours')"


class days_between(_Spelled[int]):  # noqa: N801 - reads like the SQL function it is
    """Whole days from the second date to the first (later - earlier)."""

    type = Integer()
    inherit_cache = True
    name = "days_between"
    postgresql = "({0} - {1})"
    default = "CAST(ROUND(JULIANDAY({0}) - JULIANDAY({1})) AS INTEGER)"


def year_of(column: Any) -> ColumnElement[int]:
    return cast(extract("year", column), Integer)


def quarter_of(column: Any) -> ColumnElement[int]:
    """1..4; integer division on both dialects."""
    return (cast(extract("month", column), Integer) + 2) // 3
