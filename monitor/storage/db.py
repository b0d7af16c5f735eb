"""Engines, sessions and the idempotent insert shared by every stage.

SQLite is the embedded default; PostgreSQL is production. Behaviour must be
identical on both, so dialect differences live here and nowhere else:

* SQLite runs in WAL mode with a busy timeout, and every transaction starts
  with ``BEGIN IMMEDIATE``. A deferred transaction that reads and then writes
  can fail at once with "database is locked" when another process writes in
  between (the busy handler is not called on a lock upgrade); taking the write
  lock up front makes concurrent writers wait their turn instead.
* ``insert_ignore`` emits ``INSERT ... ON CONFLICT DO NOTHING`` with the
  dialect's own construct.
* ``folded_like`` is a case-insensitive LIKE that folds every letter on both
  (PostgreSQL's ILIKE; on SQLite, a Python ``lower`` registered per
  connection, or SQLite's own LIKE when the pattern is ASCII).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Boolean, ColumnElement, CursorResult, Engine, Executable, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import literal
from sqlalchemy.sql.visitors import InternalTraversal

from monitor.retries import backoff

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine with the project's settings for the URL's dialect."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            # Threads of one process share the pool (the embedded poller
            # fetches feeds in parallel); each connection is used by one
            # thread at a time, which is what pysqlite's check guards.
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        # We ship psycopg 3; a plain postgresql:// URL means it.
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # SQLite's own lower() folds ASCII only, so a case-insensitive search
        # (ILIKE compiles to lower() LIKE lower()) missed "Grève" for
        # "GRÈVE"; PostgreSQL folds every letter. Python's str.lower makes
        # the two agree.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session


def run_in_transaction(
    factory: sessionmaker[Session],
    work: Callable[[Session], T],
    *,
    attempts: int = 5,
) -> T:
    """Run ``work`` in one transaction, retrying when SQLite stays locked.

    The busy timeout already waits 30 s for the lock; a retry covers the rare
    case where even that runs out under heavy contention, so that no caller
    sees an unhandled "database is locked".
    """
    for attempt in range(1, attempts + 1):
        try:
            with transaction(factory) as session:
                return work(session)
        except OperationalError as exc:
            if "database is locked" not in str(exc) or attempt == attempts:
                raise
            delay = backoff(0.1, attempt, 2.0)
            log.warning("database is locked; retrying in %.2fs (attempt %d)", delay, attempt)
            time.sleep(delay)
    raise AssertionError("unreachable")


def insert_ignore(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    returning: Sequence[str] = (),
) -> list[Any]:
    """``INSERT ... ON CONFLICT DO NOTHING``; returns the rows actually inserted.

    With ``returning`` the result holds one row per *new* row (conflicting
    rows return nothing), which is how callers learn what they created. Both
    SQLite (3.35+) and PostgreSQL support RETURNING with ON CONFLICT.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).values(list(rows)).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(list(rows)).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported dialects reach here
        raise NotImplementedError(f"unsupported database dialect: {dialect}")
    if returning:
        stmt = stmt.returning(*(table.c[name] for name in returning))
        return list(session.execute(stmt).all())
    session.execute(stmt)
    return []


def affected_rows(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE and return how many rows it changed.

    Conditional updates checked by this count are how stages claim work
    (a feed's lease, an article to classify, a delivery to send): exactly one
    caller sees 1.
    """
    result = session.execute(statement)
    return int(cast(CursorResult[Any], result).rowcount)


class _AsciiLike(ColumnElement[bool]):
    """``column`` LIKE an ASCII ``pattern``, ignoring case: ILIKE on
    PostgreSQL (whose LIKE escape character is ``\\`` by default), SQLite's
    own LIKE there (which ignores the case of ASCII letters)."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own declaration
        ("column", InternalTraversal.dp_clauseelement),
        ("pattern", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[str], pattern: str) -> None:
        self.column = column
        self.pattern = literal(pattern)


Text = ColumnElement[str] | QueryableAttribute[str]


@compiles(_AsciiLike)
def _ascii_like(element: _AsciiLike, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} ILIKE {compiler.process(element.pattern, **kw)}"


@compiles(_AsciiLike, "sqlite")
def _ascii_like_sqlite(element: _AsciiLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = compiler.process(element.column, **kw), compiler.process(element.pattern, **kw)
    return f"{column} LIKE {pattern} ESCAPE '\\'"


def folded_like(column: Text, pattern: str) -> ColumnElement[bool]:
    """``column`` LIKE ``pattern`` (``\\`` escapes), letters compared without
    case on both dialects. For an ASCII pattern SQLite's own LIKE gives the
    answer of Unicode folding without a Python call per row (a tenth of the
    time of ``lower() LIKE lower()``); it differs only for the two letters
    that fold to ASCII ones, the Kelvin sign and the dotted capital I."""
    if pattern.isascii():
        element = column.__clause_element__() if isinstance(column, QueryableAttribute) else column
        return _AsciiLike(element, pattern)
    return column.ilike(pattern, escape="\\")
