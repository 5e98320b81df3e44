"""Sending many rows of one table in a single executemany on the driver's connection.

A Core ``insert(table)`` with a list of dicts spends most of its time preparing the
parameters (a dict per row, each value looked up and processed by name). Here the statement
is compiled once per table and dialect, each column's bind processor is taken once, and the
rows go to the driver as plain tuples: the stored values are the ones Core would send (the
same type processing), JSON columns written with orjson (what ``json.dumps`` would store,
read back alike).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Table, Text, bindparam, cast, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

_Processor = Callable[[Any], Any] | None


def _json(value: Any) -> str:
    """A JSON column's text (None as JSON null, as Core stores it); the standard library's
    where orjson refuses (a very large int, a non-text key)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _json_or_null(value: Any) -> str | None:
    """The same for a column that stores None as SQL NULL."""
    return None if value is None else _json(value)


def _json_bytes(value: Any) -> bytes:
    """`_json` as UTF-8 bytes."""
    try:
        # a copy of its exact size: orjson's own buffer keeps the room it grew into, which
        # the heap cannot give to another string while the value lives
        return bytes(memoryview(orjson.dumps(value)))
    except TypeError:
        return json.dumps(value).encode()


def _json_bytes_or_null(value: Any) -> bytes | None:
    return None if value is None else _json_bytes(value)


_JSON_PROCESSORS = (_json, _json_or_null, _json_bytes, _json_bytes_or_null)


class _Statement:
    """One table's INSERT of the given columns and of those with a Python-side default,
    and each column's processor."""

    def __init__(self, table: Table, keys: tuple[str, ...], dialect: Dialect) -> None:
        given = set(keys)
        self.defaults: tuple[tuple[str, Any], ...] = tuple(
            (column.key, column.default)
            for column in table.columns
            if column.key not in given
            and column.default is not None
            and (column.default.is_scalar or column.default.is_callable)
        )
        keys += tuple(key for key, _ in self.defaults)
        self.keys = keys
        by_key = {column.key: column for column in table.columns}
        as_bytes = dialect.name == "sqlite"
        statement = insert(table)
        if as_bytes:
            statement = statement.values(
                {
                    key: cast(bindparam(key), Text)
                    if isinstance(by_key[key].type, JSON)
                    else bindparam(key)
                    for key in keys
                }
            )
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        # the statement's own parameter names, in the order a positional driver wants them
        order = list(compiled.positiontup or ()) if self.positional else list(self.keys)
        self.order = tuple(order)
        self.processors: tuple[_Processor, ...] = tuple(
            _processor(by_key[key], dialect, as_bytes) for key in self.order
        )
        self.get = itemgetter(*self.order)
        # the places of the values to process; the others go to the driver as they are
        self.processed = tuple(
            (place, process) for place, process in enumerate(self.processors) if process
        )


def _processor(column: Any, dialect: Dialect, as_bytes: bool) -> _Processor:
    if isinstance(column.type, JSON):
        if as_bytes:
            return _json_bytes_or_null if column.type.none_as_null else _json_bytes
        return _json_or_null if column.type.none_as_null else _json
    return column.type._cached_bind_processor(dialect)  # type: ignore[no-any-return]


_STATEMENTS: dict[tuple[str, str, tuple[str, ...]], _Statement] = {}


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT `rows` in one executemany. Every row has the same keys; a column
    not given takes its Python-side default, one value for all the rows."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    keys = tuple(rows[0])
    statement = _STATEMENTS.get((table.name, dialect.name, keys))
    if statement is None:
        statement = _STATEMENTS[(table.name, dialect.name, keys)] = _Statement(table, keys, dialect)
    if statement.defaults:  # one value per call, as the chunk's own timestamps
        filled = {
            key: default.arg(None) if default.is_callable else default.arg
            for key, default in statement.defaults
        }
        rows = [row | filled for row in rows]
    # column by column: each processor mapped over its column, a repeated value (the
    # chunk's timestamps, a day) processed once
    if len(statement.order) == 1:  # itemgetter of one key gives the value, not a tuple
        columns: list[Sequence[Any]] = [[statement.get(row) for row in rows]]
    else:
        columns = list(zip(*map(statement.get, rows), strict=True))
    for place, process in statement.processed:
        columns[place] = _mapped(process, columns[place])
    values = list(zip(*columns, strict=True))
    if statement.positional:
        params: list[Any] = values
    else:
        params = [dict(zip(statement.order, value, strict=True)) for value in values]
    connection.exec_driver_sql(statement.sql, params)


def _mapped(process: Callable[[Any], Any], column: Sequence[Any]) -> list[Any]:
    """`process` of every value of `column`; once per distinct value (JSON: per value)."""
    if process in _JSON_PROCESSORS:
        return list(map(process, column))
    done: dict[Any, Any] = {}
    out = []
    for value in column:
        try:
            found = done[value]
        except KeyError:
            found = done[value] = process(value)
        except TypeError:  # unhashable
            found = process(value)
        out.append(found)
    return out
