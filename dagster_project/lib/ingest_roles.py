"""Each gemeente ingests into the shared warehouse through a role of its own (docs/architecture.md,
"Tenancy").

The region's owner gives every gemeente a NOLOGIN role `mmr_ingest_<gm>` (`mmr grant-ingest`):
it may read, add and delete rows only in that gemeente's partition of every raw table, and read,
add and update only that gemeente's rows of the ingestion log (row-level security on `period`).
A gemeente's installation logs in as a role granted `mmr_ingest_<gm>`; PostgreSQL refuses
everything else it might try: another gemeente's partition, the whole raw table, a row of another
gemeente, any change to a table's shape. The installation sees that it is such a loader and
shares only its own gemeente's periods; the region's sources (postcode tables, CBS, Vektis) are
the owner's to share.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

from dagster_project.lib.postgres import RAW_SCHEMA, ensure_partitions, ensure_role, partition_of

LOG_TABLE = "ingestion_log"
ROLE_PREFIX = "mmr_ingest_"
GEMEENTE = re.compile(r"GM\d{4}")


def ingest_role(gemeente: str) -> str:
    return f"{ROLE_PREFIX}{gemeente.lower()}"


def _partitioned_tables(con: psycopg.Connection) -> list[str]:
    rows = con.execute(
        "select c.relname from pg_partitioned_table t join pg_class c on c.oid = t.partrelid "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %s order by 1",
        [RAW_SCHEMA],
    ).fetchall()
    return [row[0] for row in rows]


def grant_ingest(dsn: str, gemeente: str, login: str | None = None) -> list[str]:
    """Make (or bring up to date) the ingest role of `gemeente` as the region's owner: its partition
    of every partitioned raw table, the grants on them, its rows of the ingestion log; `login`, an
    existing login role, is made a member. Returns the partitions it may write. Run again after a
    new raw table appears (a new source)."""
    gemeente = gemeente.upper()
    if not GEMEENTE.fullmatch(gemeente):
        raise ValueError(f"{gemeente!r} is not a gemeente code (GM and four digits)")
    role = ingest_role(gemeente)
    ident = sql.Identifier
    with psycopg.connect(dsn) as con, con.cursor() as cur:
        tables = _partitioned_tables(con)
        if not tables:
            raise LookupError("the shared warehouse has no raw tables yet: run `mmr ingest` as the region first")
        ensure_role(cur, role)
        cur.execute(sql.SQL("grant usage on schema {} to {}").format(ident(RAW_SCHEMA), ident(role)))
        partitions = []
        for table in tables:
            ensure_partitions(cur, RAW_SCHEMA, table, [gemeente])
            partition = partition_of(table, gemeente)
            cur.execute(
                sql.SQL("grant select, insert, delete on {} to {}").format(ident(RAW_SCHEMA, partition), ident(role))
            )
            partitions.append(partition)
        log = ident(RAW_SCHEMA, LOG_TABLE)
        cur.execute(sql.SQL("alter table {} enable row level security").format(log))
        cur.execute(sql.SQL("drop policy if exists {} on {}").format(ident(role), log))
        own = sql.SQL("split_part(period, ':', 1) = {}").format(sql.Literal(gemeente))
        cur.execute(
            sql.SQL("create policy {} on {} for all to {} using ({}) with check ({})").format(
                ident(role), log, ident(role), own, own
            )
        )
        cur.execute(sql.SQL("grant select, insert, update on {} to {}").format(log, ident(role)))
        if login:
            cur.execute(sql.SQL("grant {} to {}").format(ident(role), ident(login)))
    return partitions


def loader_gemeente(dsn: str) -> str | None:
    """The gemeente whose ingest role this connection logs in with; None for the region's own
    roles (a superuser, or whoever owns the raw tables)."""
    with psycopg.connect(dsn) as con:
        row = con.execute(
            "select rolsuper or exists (select 1 from pg_namespace where nspname = %s "
            "and pg_has_role(nspowner, 'USAGE')) from pg_roles where rolname = current_user",
            [RAW_SCHEMA],
        ).fetchone()
        if row is None or row[0]:
            return None
        roles = con.execute(
            "select rolname from pg_roles where starts_with(rolname, %s) and pg_has_role(oid, 'USAGE') order by 1",
            [ROLE_PREFIX],
        ).fetchall()
    gemeenten = [name[len(ROLE_PREFIX) :].upper() for (name,) in roles]
    if len(gemeenten) > 1:
        raise PermissionError(f"this login may ingest for {', '.join(gemeenten)}: one gemeente per installation")
    return gemeenten[0] if gemeenten else None
