"""Statements compiled once per database dialect and run as the driver's SQL on the
request's read connection (registry.database.read_connection), their rows used as the
driver returns them.

For a statement a request runs once, SQLAlchemy's execution (the statement's cache key,
the compiled cache's lookup, the parameters' processing, the result's type processing and
metadata) costs more than the query itself on an indexed lookup. The caller knows its
columns: dates come back as the driver gives them (ISO strings from SQLite, `date` from
PostgreSQL; `iso` makes both a string), booleans as 0/1 or False/True.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from registry.database import get_db, read_rows


class Compiled(NamedTuple):
    sql: str
    # Per parameter of the statement, in the driver's order: its key in the statement, the
    # name of a value given at execution or else None for a constant of the statement (a
    # state the visibility rules compare with), that constant, and the type's converter.
    params: tuple[tuple[str, str | None, Any, Callable[[Any], Any] | None], ...]
    positional: bool


def compile_for(statement: ClauseElement, dialect: Dialect, given: Collection[str]) -> Compiled:
    """`statement` compiled for `dialect`; `given` names its parameters bound at execution
    (`bindparam(name)`), the others are its constants."""
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    order = compiled.positiontup if compiled.positional else list(compiled.binds)
    params: list[tuple[str, str | None, Any, Callable[[Any], Any] | None]] = []
    for name in order or ():
        bind = compiled.binds[name]
        convert = bind.type.bind_processor(dialect)
        if name in given:
            params.append((name, name, None, convert))
        else:
            params.append((name, None, convert(bind.value) if convert else bind.value, None))
    return Compiled(compiled.string, tuple(params), bool(compiled.positional))


def dialect() -> Dialect:
    """The dialect of this app's database, to compile for."""
    return get_db().engine.dialect


def run(compiled: Compiled, values: Mapping[str, Any]) -> Sequence[Any]:
    """The rows of `compiled` with `values` bound, as tuples of the driver's values, read on
    this request's read connection."""
    ordered = [
        (convert(values[name]) if convert else values[name]) if name else constant
        for _key, name, constant, convert in compiled.params
    ]
    args: Any = (
        tuple(ordered)
        if compiled.positional
        else {key: value for (key, *_rest), value in zip(compiled.params, ordered, strict=True)}
    )
    return read_rows(compiled.sql, args)


def iso(value: date | str | None) -> str | None:
    """A date column as ISO text (SQLite's driver gives it so already), or None."""
    return value if value is None or isinstance(value, str) else value.isoformat()
