"""What `mmr status` shows: the last good publish, the last failure, audits, batches, quarantine."""

import duckdb
from rich.console import Console
from rich.table import Table

from dagster_project.settings import Settings


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    try:
        return con.execute(sql).fetchall()
    except duckdb.CatalogException:
        return []


def render_status(console: Console, settings: Settings) -> None:
    if not settings.build_db.exists():
        console.print("Nothing built yet: run [bold]mmr run[/].")
        return
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        publishes = _query(
            con,
            "select run_id, published_at, status, periods, message from audit.publish_log order by published_at desc",
        )
        checks = _query(
            con,
            "select run_id, checked_at, asset, suite, success, failures "
            "from audit.check_results order by checked_at desc limit 20",
        )
        batches = _query(
            con,
            "select source, file_name, period, rows_read, rows_accepted, rows_rejected, "
            "status, message, ingested_at from raw.ingestion_log "
            "order by ingested_at desc limit 20",
        )
    good = next((p for p in publishes if p[2] == "published"), None)
    console.print(
        f"Serving database: {settings.serving_db} "
        f"({'present' if settings.serving_db.exists() else 'not published yet'})"
    )
    if good:
        console.print(
            f"[green]Last good publish[/]: run {good[0]} at {good[1]:%Y-%m-%d %H:%M:%S} UTC, periods {good[3]}"
        )
    failed_checks = [c for c in checks if not c[4]]
    if failed_checks:
        last = failed_checks[0]
        console.print(
            f"[red]Last failed audit[/]: {last[3]} on {last[2]} in run {last[0]} at {last[1]:%Y-%m-%d %H:%M:%S}"
        )
        console.print(f"  failures: {last[5][:500]}")
    audits = Table("checked at", "asset", "suite", "result", title="Audits (latest first)")
    for _run_id, at, asset, suite, success, _failures in checks:
        audits.add_row(f"{at:%Y-%m-%d %H:%M:%S}", asset, suite, "[green]passed" if success else "[red]failed")
    console.print(audits)
    table = Table(
        "source",
        "file",
        "period",
        "read",
        "accepted",
        "rejected",
        "status",
        "message",
        title="Ingestion batches (latest first)",
    )
    for source, file_name, period, read, accepted, rejected, state, message, _ in batches:
        table.add_row(source, file_name, period, str(read), str(accepted), str(rejected), state, message or "")
    console.print(table)
    quarantined = sorted(settings.quarantine_dir.glob("*/*/reasons.csv"))
    if quarantined:
        console.print(f"[yellow]Quarantine[/]: {len(quarantined)} batches; see {settings.quarantine_dir}")
        for reasons in quarantined[-10:]:
            console.print(f"  {reasons.parent.relative_to(settings.quarantine_dir)}")
