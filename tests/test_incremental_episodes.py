"""`fct_care_episode` is built by episode (`dbt/models/marts/core/fct_care_episode.sql`): a new month
builds again only the episodes with a row in it, from all their months; a re-delivered month
builds every episode (a row may have left one). `care_episode_outcome` follows: a new month builds
again the ended episodes of the clients with an episode built, a re-delivered month every one.
Either way both tables equal a full build of the same deliveries.

On a copy of the demo warehouse, one gemeente's last month is held back and the episodes built;
the month is delivered and they are built again; then an older Wmo month of another gemeente is
delivered again with one row less, and they are built once more.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from dagster_project import ingest
from dagster_project.ingest.withdraw import withdraw
from dagster_project.settings import Settings
from tests.test_incremental import SPECS, copy_of_demo, dbt_results, hold_back_month, land_correction, land_month

pytestmark = pytest.mark.e2e

SELECT = ["--select", "+care_episode_outcome"]
OUTCOME = "marts_outcome.care_episode_outcome"
TABLES = ("marts_core.fct_care_episode", OUTCOME)
#: What a row says about when and from what it was built, not about the episode.
BOOKKEEPING = ("built_at", "input_rows")


@dataclass
class Episodes:
    home: Path
    new_month: tuple[str, str]
    built: dict[str, dict[str, object]]
    outcomes: dict[str, dict[str, object]]
    in_month: set[str]
    followed_up: set[str]
    differences: dict[str, dict[str, int]]


def _built_at(build_db: Path, table: str = "marts_core.fct_care_episode") -> dict[str, object]:
    with duckdb.connect(str(build_db), read_only=True) as con:
        return dict(con.execute(f"select episode_key, built_at from {table}").fetchall())


def _differences_from_a_full_build(build_db: Path, target: Path) -> dict[str, int]:
    """Rows of each table that differ from a full build of the same raw layer, both ways."""
    full_db = target / "build.duckdb"
    target.mkdir()
    shutil.copy(build_db, full_db)
    dbt_results(["run", "--full-refresh", *SELECT], target, full_db)
    with duckdb.connect(str(full_db), read_only=True) as con:
        con.execute(f"attach '{build_db}' as built (read_only)")
        differences = {}
        for table in TABLES:
            listed = ", ".join(
                name for name, *_ in con.execute(f"describe {table}").fetchall() if name not in BOOKKEEPING
            )
            differences[table] = sum(
                con.execute(
                    f"select count(*) from (select {listed} from {left} except all select {listed} from {right})"
                ).fetchone()[0]
                for left, right in ((table, f"built.{table}"), (f"built.{table}", table))
            )
        return differences


def _as_built_a_month_earlier(build_db: Path) -> set[str]:
    """The outcomes whose twelve months of follow-up the last delivered month completed, as a build
    a month earlier left them (without follow-up): the next build must see that it now has it."""
    with duckdb.connect(str(build_db)) as con:
        return {
            key
            for (key,) in con.execute(
                f"""
                update {OUTCOME} set has_follow_up = false
                where episode_key in (
                    select episode_key from marts_core.fct_care_episode
                    where end_date + interval 12 month
                        > (select max(last_month) from marts_core.fct_care_episode)
                ) and has_follow_up
                returning episode_key
                """
            ).fetchall()
        }


@pytest.fixture(scope="module")
def episodes(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Episodes:
    home = tmp_path_factory.mktemp("episodes_home")
    build_db = copy_of_demo(demo_home, home)
    settings = Settings(home=home)
    (gemeente, month), (other, old_month) = hold_back_month(build_db)
    dbt_results(["run", "--full-refresh", *SELECT], home / "dbt_held_back", build_db)
    built = {"held_back": _built_at(build_db)}
    outcomes = {"held_back": _built_at(build_db, OUTCOME)}
    followed_up = _as_built_a_month_earlier(build_db)

    land_month(demo_home, home, gemeente, month)
    for spec in SPECS.values():
        ingest.ingest_source([spec], settings)
    dbt_results(["run", *SELECT], home / "dbt_month", build_db)
    built["month"] = _built_at(build_db)
    outcomes["month"] = _built_at(build_db, OUTCOME)
    with duckdb.connect(str(build_db), read_only=True) as con:
        # the held-back month is the latest delivered: an episode with a row in it ends there
        in_month = {
            key
            for (key,) in con.execute(
                "select episode_key from marts_core.fct_care_episode "
                "where gemeente_code = ? and strftime(last_month, '%Y-%m') = ?",
                [gemeente, month],
            ).fetchall()
        }
    differences = {"month": _differences_from_a_full_build(build_db, home / "full_month")}

    land_correction(demo_home, home, other, old_month)
    ingest.ingest_source([SPECS["wmo"]], settings)
    dbt_results(["run", *SELECT], home / "dbt_correction", build_db)
    built["correction"] = _built_at(build_db)
    outcomes["correction"] = _built_at(build_db, OUTCOME)
    differences["correction"] = _differences_from_a_full_build(build_db, home / "full_correction")
    return Episodes(home, (gemeente, month), built, outcomes, in_month, followed_up, differences)


def test_a_new_month_builds_only_the_episodes_with_a_row_in_it(episodes: Episodes) -> None:
    before, after = episodes.built["held_back"], episodes.built["month"]
    assert len(episodes.in_month) > 20
    assert episodes.in_month <= set(after)
    rebuilt = {key for key, built_at in after.items() if before.get(key) != built_at}
    assert rebuilt == episodes.in_month
    assert set(before) <= set(after)
    assert len(rebuilt) < len(after) / 10


def test_a_redelivered_month_builds_every_episode(episodes: Episodes) -> None:
    month, correction = episodes.built["month"], episodes.built["correction"]
    assert set(correction) <= set(month)
    assert all(correction[key] > max(month.values()) for key in correction)


def test_a_new_month_builds_the_outcomes_of_the_clients_with_an_episode_built(episodes: Episodes) -> None:
    before, after = episodes.outcomes["held_back"], episodes.outcomes["month"]
    rebuilt = {key for key, built_at in after.items() if before.get(key) != built_at}
    with duckdb.connect(str(episodes.home / "warehouse" / "build.duckdb"), read_only=True) as con:
        clients_built = {
            key
            for (key,) in con.execute(
                f"select outcome.episode_key from {OUTCOME} as outcome "
                "inner join (select distinct client_key, domain from marts_core.fct_care_episode "
                "where episode_key in (select unnest(?))) as built using (client_key, domain)",
                [sorted(episodes.in_month)],
            ).fetchall()
        }
    assert rebuilt, "the held-back month ends episodes or continues their clients' others"
    assert episodes.followed_up, "some episodes ended exactly a year before the last delivered month"
    assert rebuilt <= clients_built | episodes.followed_up
    assert episodes.followed_up <= rebuilt
    assert len(rebuilt) < len(after) / 10


def test_a_redelivered_month_builds_every_outcome(episodes: Episodes) -> None:
    month, correction = episodes.outcomes["month"], episodes.outcomes["correction"]
    assert correction and all(correction[key] > max(month.values()) for key in correction)


def test_episodes_built_by_month_equal_a_full_build(episodes: Episodes) -> None:
    nothing = dict.fromkeys(TABLES, 0)
    assert episodes.differences == {"month": nothing, "correction": nothing}


def _rows_without_bookkeeping(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    listed = [name for name, *_ in con.execute(f"describe {table}").fetchall() if name not in BOOKKEEPING]
    return sorted(con.execute(f"select {', '.join(listed)} from {table}").fetchall(), key=repr)


def test_episodes_built_with_text_keys_are_built_again_with_integer_keys(episodes: Episodes, tmp_path: Path) -> None:
    """An installation upgraded from person keys as text and episodes that counted client-month
    partitions: the next run, though only appending would do, retypes both tables and builds every
    episode and outcome again, the same but for the keys, counting client-months."""
    build_db = tmp_path / "build.duckdb"
    shutil.copy(episodes.home / "warehouse" / "build.duckdb", build_db)
    keys = {"marts_core.fct_care_episode": ("client_key", "household_key"), OUTCOME: ("client_key",)}
    with duckdb.connect(str(build_db)) as con:
        before = {table: _rows_without_bookkeeping(con, table) for table in TABLES}
        built_before = {table: con.execute(f"select max(built_at) from {table}").fetchone()[0] for table in TABLES}
        for table, columns in keys.items():
            for column in columns:
                con.execute(f"alter table {table} alter column {column} type varchar")
        con.execute("alter table marts_core.fct_care_episode rename column input_rows to input_partitions")
    results = dbt_results(["run", "--select", "fct_care_episode", "care_episode_outcome"], tmp_path / "dbt", build_db)
    assert [r["status"] for r in results["results"] if r["unique_id"].startswith("model.")] == ["success", "success"]
    with duckdb.connect(str(build_db), read_only=True) as con:
        types = {
            (f"{schema}.{table}", column): kind
            for schema, table, column, kind in con.execute(
                "select table_schema, table_name, column_name, data_type from information_schema.columns "
                "where table_name in ('fct_care_episode', 'care_episode_outcome') and column_name like '%_key' "
                "and column_name <> 'episode_key' and column_name <> 'service_key'"
            ).fetchall()
        }
        after = {table: _rows_without_bookkeeping(con, table) for table in TABLES}
        counted = {name for name, *_ in con.execute("describe marts_core.fct_care_episode").fetchall()}
        built_after = {table: con.execute(f"select min(built_at) from {table}").fetchone()[0] for table in TABLES}
    assert types == {(table, column): "BIGINT" for table, columns in keys.items() for column in columns}
    assert after == before
    assert "input_rows" in counted and "input_partitions" not in counted
    assert all(built_after[table] > built_before[table] for table in TABLES), "some rows kept their text keys"


def test_a_withdrawn_month_builds_every_episode_without_it(episodes: Episodes, tmp_path: Path) -> None:
    """A month withdrawn after the episodes were built leaves no new client-month behind, only fewer:
    the next run builds every episode again, as a full build of what is left would."""
    home = tmp_path / "home"
    shutil.copytree(episodes.home, home, ignore=shutil.ignore_patterns("dbt_*", "full_*"))
    build_db = home / "warehouse" / "build.duckdb"
    before = _built_at(build_db)
    gemeente, month = episodes.new_month
    withdrawn = withdraw(Settings(home=home), "gemeente_jeugd", f"jeugd_{gemeente}_{month}.csv")
    assert withdrawn.built_rows["marts_core.fct_client_month"] > 0
    dbt_results(["run", "--select", "fct_care_episode", "care_episode_outcome"], tmp_path / "dbt", build_db)
    after = _built_at(build_db)
    assert after and min(after.values()) > max(before.values())
    assert _differences_from_a_full_build(build_db, tmp_path / "full") == dict.fromkeys(TABLES, 0)
