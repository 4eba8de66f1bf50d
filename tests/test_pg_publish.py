"""Publishing on the shared PostgreSQL warehouse: atomic schema swap and per-gemeente row-level security."""

import threading
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from dagster_project.lib.postgres import with_database
from dagster_project.publish import schema_swap as pg_publish
from tests.conftest import ADMIN_DSN


@pytest.fixture
def pg():
    """A fresh database and three reading roles (two gemeenten and their region), dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    database = f"mmr_publish_{suffix}"
    roles = {"gm_a": f"mmr_gm0001_{suffix}", "gm_b": f"mmr_gm0002_{suffix}", "regio": f"mmr_regio_{suffix}"}
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    dsn = with_database(ADMIN_DSN, database)
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("create schema serving")
        con.execute("create table serving.kerncijfers (gemeente_code text, wijk_code text, inwoners int)")
        con.execute(
            "insert into serving.kerncijfers values "
            "('GM0001', 'WK000101', 1200), ('GM0001', 'WK000102', 800), ('GM0002', 'WK000201', 3000)"
        )
        con.execute("create table serving.budget (gemeente_code text, domein text, budget numeric)")
        con.execute("insert into serving.budget values ('GM0001', 'jeugd', 10.5), ('GM0002', 'jeugd', 20.0)")
    pg_publish.sync_roles(
        dsn, {roles["gm_a"]: ["GM0001"], roles["gm_b"]: ["GM0002"], roles["regio"]: ["GM0001", "GM0002"]}
    )
    yield dsn, roles
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(database)))
        for role in roles.values():
            admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def read_as(dsn: str, role: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        return con.execute(query).fetchall()


def test_each_gemeente_role_reads_only_its_own_rows(pg):
    dsn, roles = pg
    assert pg_publish.publish(dsn) == ["budget", "kerncijfers"]
    assert read_as(dsn, roles["gm_a"], "select wijk_code from published.kerncijfers order by 1") == [
        ("WK000101",),
        ("WK000102",),
    ]
    assert read_as(dsn, roles["gm_a"], "select count(*) from published.kerncijfers where gemeente_code = 'GM0002'") == [
        (0,)
    ]
    assert read_as(dsn, roles["gm_b"], "select gemeente_code, budget from published.budget") == [("GM0002", 20)]
    assert read_as(dsn, roles["regio"], "select count(*) from published.kerncijfers") == [(3,)]
    assert read_as(dsn, roles["gm_b"], "select role_name from mmr_access.role_gemeente") == [(roles["gm_b"],)]


def test_an_analysts_login_reads_what_its_gemeente_role_may(pg):
    """Logins are members of a gemeente role (`create role ... login in role gemeente_...`)."""
    dsn, roles = pg
    analyst = f"{roles['gm_a']}_analist"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login in role {}").format(*map(sql.Identifier, (analyst, roles["gm_a"]))))
    try:
        pg_publish.publish(dsn)
        login_dsn = make_conninfo(dsn, user=analyst)
        with psycopg.connect(login_dsn) as con:
            seen = con.execute("select distinct gemeente_code from published.kerncijfers").fetchall()
        assert seen == [("GM0001",)]
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(analyst)))


def test_a_pipeline_role_that_is_not_superuser_publishes_and_reads_everything():
    """The pipeline's own role owns what it publishes and reads every gemeente (the volume baseline,
    a region-wide Superset connection); gemeente roles stay limited to their rows."""
    suffix = uuid.uuid4().hex[:8]
    owner, database, gemeente = f"mmr_pipeline_{suffix}", f"mmr_owned_{suffix}", f"mmr_gm0001_{suffix}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login createrole").format(sql.Identifier(owner)))
        admin.execute(sql.SQL("create database {} owner {}").format(*map(sql.Identifier, (database, owner))))
    dsn = make_conninfo(with_database(ADMIN_DSN, database), user=owner)
    try:
        with psycopg.connect(dsn, autocommit=True) as con:
            assert not con.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
            con.execute("create schema serving")
            con.execute("create table serving.kerncijfers as select * from (values ('GM0001', 5), ('GM0002', 7)) t")
            con.execute("alter table serving.kerncijfers rename column column1 to gemeente_code")
        pg_publish.sync_roles(dsn, {gemeente: ["GM0001"]})
        pg_publish.publish(dsn)
        with psycopg.connect(dsn) as con:
            assert con.execute("select count(*) from published.kerncijfers").fetchone() == (2,)
        as_admin = with_database(ADMIN_DSN, database)
        assert read_as(as_admin, gemeente, "select gemeente_code from published.kerncijfers") == [("GM0001",)]
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))
            for role in (gemeente, owner):
                admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def test_roles_cannot_read_the_build_schema(pg):
    dsn, roles = pg
    pg_publish.publish(dsn)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        read_as(dsn, roles["gm_a"], "select * from serving.kerncijfers")


def test_readers_see_one_whole_version_while_publishes_swap(pg):
    dsn, roles = pg
    pg_publish.publish(dsn)
    seen, errors, stop = set(), [], threading.Event()

    def read_repeatedly():
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(sql.SQL("set role {}").format(sql.Identifier(roles["regio"])))
            while not stop.is_set():
                try:
                    seen.add(
                        con.execute(
                            "select k.total, b.total from (select sum(inwoners) as total from published.kerncijfers) k,"
                            " (select sum(budget) as total from published.budget) b"
                        ).fetchone()
                    )
                except psycopg.Error as exc:
                    errors.append(exc)

    reader = threading.Thread(target=read_repeatedly)
    reader.start()
    for _ in range(5):
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute("update serving.kerncijfers set inwoners = inwoners + 1")
            con.execute("update serving.budget set budget = budget + 1")
        pg_publish.publish(dsn)
    stop.set()
    reader.join(timeout=30)
    assert not errors
    assert seen <= {(5000 + 3 * v, 30.5 + 2 * v) for v in range(6)}, "a reader saw a mix of two versions"
    assert read_as(dsn, roles["gm_a"], "select sum(inwoners) from published.kerncijfers") == [(2010,)]
    pg_publish.rollback(dsn)
    assert read_as(dsn, roles["gm_a"], "select sum(inwoners) from published.kerncijfers") == [(2008,)]


def schemas(dsn: str, like: str) -> list[str]:
    with psycopg.connect(dsn) as con:
        return [r[0] for r in con.execute("select nspname from pg_namespace where nspname like %s order by 1", [like])]


def test_a_version_still_read_is_dropped_by_a_later_publish_without_waiting_for_it(pg, monkeypatch):
    """A transaction that read a version before two publishes still holds it when they retire it:
    the publishes neither wait for it (a wait would fail on the lock timeout) nor take its tables
    from under it, its next query reads the newest version, and the publish after it ends drops it."""
    dsn, roles = pg
    monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=10s")
    pg_publish.publish(dsn)
    with psycopg.connect(dsn) as reader:
        reader.execute(sql.SQL("set role {}").format(sql.Identifier(roles["regio"])))
        assert reader.execute("select sum(inwoners) from published.kerncijfers").fetchone() == (5000,)
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute("update serving.kerncijfers set inwoners = inwoners + 1")
        pg_publish.publish(dsn)
        pg_publish.publish(dsn)
        assert len(schemas(dsn, "published\\_retired\\_%")) == 1
        assert reader.execute("select sum(inwoners) from published.kerncijfers").fetchone() == (5003,)
    pg_publish.publish(dsn)
    assert schemas(dsn, "published%") == ["published", "published_previous"]
    assert read_as(dsn, roles["regio"], "select sum(inwoners) from published.kerncijfers") == [(5003,)]


def test_a_refused_publish_leaves_the_published_version_untouched(pg):
    dsn, roles = pg
    pg_publish.publish(dsn)
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute("delete from serving.kerncijfers")
        con.execute("create table serving.unkeyed (wijk_code text)")
    with pytest.raises(pg_publish.PublishRefused, match="unkeyed"):
        pg_publish.publish(dsn)
    assert read_as(dsn, roles["regio"], "select count(*) from published.kerncijfers") == [(3,)]
