"""Publish on the shared PostgreSQL warehouse: an atomic schema swap with row-level security.

dbt builds the serving models into the build schema (`serving`). A publish copies them into a
fresh schema, enables row-level security on every table, grants the gemeente roles, and swaps it
in for the published schema in ONE transaction: a reader sees the old version or the new one,
never a mix, and a publish that fails at any point leaves the published version untouched. The
previous version is kept as `<published>_previous` for a rollback; the one before it is renamed
aside in the swap and dropped once no transaction reads it, so a publish never waits for a reader.

Tenancy: each gemeente reads through its own database role. Which gemeenten a role may read lives
in `mmr_access.role_gemeente`; a policy on every published table lets a role see only rows whose
`gemeente_code` it is granted (a region role is granted all gemeenten of its region). The access
list is itself under row-level security: a role sees only its own grants, and a login role sees
those of the roles it is a member of (an analyst's login `in role gemeente_gm0489`). The owner of
the published tables, the pipeline's own role, is not subject to the policies: it reads every
gemeente (the volume baseline of the next audit) without having to be a superuser.
"""

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

import psycopg
from psycopg import sql

from dagster_project.lib.postgres import ensure_role

ACCESS_SCHEMA = "mmr_access"
ACCESS_DDL = f"""
create schema if not exists {ACCESS_SCHEMA};
create table if not exists {ACCESS_SCHEMA}.role_gemeente (
    role_name text not null,
    gemeente_code text not null,
    primary key (role_name, gemeente_code)
);
alter table {ACCESS_SCHEMA}.role_gemeente enable row level security;
drop policy if exists own_grants on {ACCESS_SCHEMA}.role_gemeente;
create policy own_grants on {ACCESS_SCHEMA}.role_gemeente for select
    using (pg_has_role(current_user, role_name, 'MEMBER'));
revoke all on {ACCESS_SCHEMA}.role_gemeente from public;
"""
RLS_KEY = "gemeente_code"
#: The schema dashboards and gemeente roles read.
PUBLISHED_SCHEMA = "published"


class PublishRefused(Exception):
    """The build schema cannot be published as it is (e.g. a table without the security key)."""


def ensure_access_list(con: psycopg.Connection) -> None:
    """Make the access list once. Its policy is never made again: altering it waits for every
    transaction that read a published table (the tables' policies read the list), and a publish
    waiting there while holding locks of its own can deadlock with such a reader."""
    if con.execute("select to_regclass(%s)", [f"{ACCESS_SCHEMA}.role_gemeente"]).fetchone()[0] is None:
        con.execute(ACCESS_DDL)


def ensure_reading_role(dsn: str, role: str) -> None:
    """A reading role that exists before anything is published (Superset connects as it)."""
    with psycopg.connect(dsn, autocommit=True) as con:
        ensure_role(con, role)


def sync_roles(dsn: str, access: Mapping[str, Iterable[str]]) -> None:
    """Create the reading roles (NOLOGIN; logins are granted by the operator) and record what each may read."""
    with psycopg.connect(dsn, autocommit=False) as con:
        ensure_access_list(con)
        for role, gemeenten in access.items():
            ensure_role(con, role)
            con.execute(sql.SQL("grant usage on schema {} to {}").format(*map(sql.Identifier, (ACCESS_SCHEMA, role))))
            con.execute(
                sql.SQL("grant select on {} to {}").format(
                    sql.Identifier(ACCESS_SCHEMA, "role_gemeente"), sql.Identifier(role)
                )
            )
            con.execute(f"delete from {ACCESS_SCHEMA}.role_gemeente where role_name = %s", [role])
            with con.cursor() as cur:
                cur.executemany(
                    f"insert into {ACCESS_SCHEMA}.role_gemeente values (%s, %s)",
                    [(role, code) for code in sorted(set(gemeenten))],
                )


def _tables(con: psycopg.Connection, schema: str) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_schema = %s and table_type = 'BASE TABLE'"
        " union select table_name from information_schema.views where table_schema = %s order by 1",
        [schema, schema],
    ).fetchall()
    return [r[0] for r in rows]


def _columns(con: psycopg.Connection, schema: str, table: str) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        [schema, table],
    ).fetchall()
    return {r[0] for r in rows}


def publish(
    dsn: str, build_schema: str = "serving", published_schema: str = PUBLISHED_SCHEMA, metadata: dict | None = None
) -> list[str]:
    """Swap a secured copy of every table of `build_schema` in as `published_schema`; returns the tables.

    `metadata` (which run, which periods, the audit) travels with the version as the comment on
    its schema, so what is served and what it came from are swapped together.
    """
    staged, previous = f"{published_schema}_next", f"{published_schema}_previous"
    ident = sql.Identifier
    with psycopg.connect(dsn, autocommit=False) as con:
        ensure_access_list(con)
        tables = _tables(con, build_schema)
        if not tables:
            raise PublishRefused(f"schema {build_schema} holds no tables: nothing to publish")
        unkeyed = [t for t in tables if RLS_KEY not in _columns(con, build_schema, t)]
        if unkeyed:
            raise PublishRefused(f"tables without {RLS_KEY}, which row-level security needs: {', '.join(unkeyed)}")
        roles = [r[0] for r in con.execute(f"select distinct role_name from {ACCESS_SCHEMA}.role_gemeente")]
        con.execute(sql.SQL("drop schema if exists {} cascade").format(ident(staged)))
        con.execute(sql.SQL("create schema {}").format(ident(staged)))
        for table in tables:
            target = sql.Identifier(staged, table)
            con.execute(sql.SQL("create table {} as table {}").format(target, sql.Identifier(build_schema, table)))
            con.execute(sql.SQL("alter table {} enable row level security").format(target))
            con.execute(
                sql.SQL(
                    "create policy gemeente_rows on {} for select using ({} in (select gemeente_code from {}))"
                ).format(target, ident(RLS_KEY), sql.Identifier(ACCESS_SCHEMA, "role_gemeente"))
            )
        if metadata is not None:
            con.execute(sql.SQL("comment on schema {} is {}").format(ident(staged), sql.Literal(json.dumps(metadata))))
        for role in roles:
            con.execute(sql.SQL("grant usage on schema {} to {}").format(ident(staged), ident(role)))
            con.execute(sql.SQL("grant select on all tables in schema {} to {}").format(ident(staged), ident(role)))
        _retire(con, previous, published_schema)
        if _schema_exists(con, published_schema):
            con.execute(sql.SQL("alter schema {} rename to {}").format(ident(published_schema), ident(previous)))
        con.execute(sql.SQL("alter schema {} rename to {}").format(ident(staged), ident(published_schema)))
    drop_retired(dsn, published_schema)
    return tables


def _schema_exists(con: psycopg.Connection, schema: str) -> bool:
    return con.execute("select 1 from pg_namespace where nspname = %s", [schema]).fetchone() is not None


def _retired(published_schema: str) -> str:
    return f"{published_schema}_retired_"


def _retire(con: psycopg.Connection, schema: str, published_schema: str) -> None:
    """Move `schema` out of the way under a name of its own, without touching its tables.

    A query that began before the last swap may still read this version; dropping it in
    the swap would lock its tables one by one while that query locks them in its own order: a
    deadlock, which PostgreSQL ends by aborting the publish or the reader. A rename locks no table."""
    if _schema_exists(con, schema):
        retired = f"{_retired(published_schema)}{uuid.uuid4().hex[:8]}"
        con.execute(sql.SQL("alter schema {} rename to {}").format(sql.Identifier(schema), sql.Identifier(retired)))


def drop_retired(dsn: str, published_schema: str = PUBLISHED_SCHEMA) -> list[str]:
    """Drop the retired versions no query reads any more; returns those dropped. Each is dropped
    only when every one of its tables can be locked at once without waiting (a version still read
    stays until the next publish), so the drop never waits while holding a lock."""
    dropped = []
    with psycopg.connect(dsn, autocommit=True) as con:
        pattern = _retired(published_schema).replace("_", r"\_") + "%"
        schemas = [r[0] for r in con.execute("select nspname from pg_namespace where nspname like %s", [pattern])]
        for schema in schemas:
            tables = [sql.Identifier(schema, table) for table in _tables(con, schema)]
            try:
                with con.transaction():
                    if tables:
                        con.execute(
                            sql.SQL("lock table {} in access exclusive mode nowait").format(sql.SQL(", ").join(tables))
                        )
                    con.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))
            except psycopg.errors.LockNotAvailable:
                continue
            dropped.append(schema)
    return dropped


def served_metadata(dsn: str, published_schema: str = PUBLISHED_SCHEMA) -> dict | None:
    """The metadata of the version published now (see `publish`), or None when nothing is."""
    with psycopg.connect(dsn) as con:
        row = con.execute(
            "select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = %s", [published_schema]
        ).fetchone()
    return json.loads(row[0]) if row and row[0] else None


def rollback(dsn: str, published_schema: str = PUBLISHED_SCHEMA) -> None:
    """Put the previous published version back, in one transaction; the rolled-back one becomes previous."""
    previous, parked = f"{published_schema}_previous", f"{published_schema}_rolled_back"
    ident = sql.Identifier
    with psycopg.connect(dsn, autocommit=False) as con:
        if not _schema_exists(con, previous):
            raise PublishRefused(f"no previous version ({previous}) to roll back to")
        con.execute(sql.SQL("drop schema if exists {} cascade").format(ident(parked)))
        con.execute(sql.SQL("alter schema {} rename to {}").format(ident(published_schema), ident(parked)))
        con.execute(sql.SQL("alter schema {} rename to {}").format(ident(previous), ident(published_schema)))
        con.execute(sql.SQL("alter schema {} rename to {}").format(ident(parked), ident(previous)))


#: The role that reads every gemeente of the region on the shared warehouse.
REGION_ROLE = "regio"


def gemeente_role(code: str) -> str:
    """The database role a gemeente reads the shared warehouse with (row-level security)."""
    return f"gemeente_{code.lower()}"


def publish_region(dsn: str, run_id: str, metadata: dict, published_at: datetime, build_schema: str) -> list[str]:
    """Roles for every gemeente of the latest year in the build (and the region), then the atomic
    schema swap. A gemeente reads its own rows and those of the gemeenten that went into it."""
    with psycopg.connect(dsn) as con:
        rows = con.execute(
            f"select distinct gemeente_code, huidige_gemeente_code from {build_schema}.dim_area "
            "where gemeente_code is not null order by 1"
        ).fetchall()
    reads: dict[str, list[str]] = {}
    for code, current in rows:
        reads.setdefault(current, []).append(code)
    gemeenten = sorted({code for code, _ in rows})
    sync_roles(dsn, {**{gemeente_role(code): codes for code, codes in reads.items()}, REGION_ROLE: gemeenten})
    served = {"run_id": run_id, "published_at": published_at.isoformat(), "metadata": metadata}
    return publish(dsn, build_schema, metadata=served)


def served_run(dsn: str) -> dict | None:
    """Which run is published now: run id, time and metadata; None if nothing is."""
    served = served_metadata(dsn)
    if served:
        served["published_at"] = datetime.fromisoformat(served["published_at"])
    return served
