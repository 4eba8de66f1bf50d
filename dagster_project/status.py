"""What `mmr status` shows: what is served, the last good publish, the last failure, audits, batches,
quarantine."""

import json
from datetime import datetime
from typing import Any

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dagster_project.settings import Settings
from expectations.report import expectation_label


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    try:
        return con.execute(sql).fetchall()
    except duckdb.CatalogException:
        return []


def _at(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value else "?"


def served_run(settings: Settings) -> dict[str, Any] | None:
    """Which run is published now: run id, time and metadata, read read-only; None if nothing is.

    `_publish` of `serving.duckdb`, or the comment on schema `published` of the shared warehouse.
    """
    if settings.warehouse == "postgres":
        from dagster_project.lib.pg_publish import served_metadata

        served = served_metadata(settings.require_postgres_dsn())
        if served:
            served["published_at"] = datetime.fromisoformat(served["published_at"])
        return served
    if not settings.serving_db.exists():
        return None
    with duckdb.connect(str(settings.serving_db), read_only=True) as con:
        row = con.execute("select run_id, published_at, metadata from main._publish").fetchone()
    return {"run_id": row[0], "published_at": row[1], "metadata": json.loads(row[2])} if row else None


def served_now(settings: Settings) -> tuple[str, datetime] | None:
    """Run id and time of the version served now, or None (also while a file is being replaced)."""
    try:
        served = served_run(settings)
    except duckdb.Error:
        return None
    return (served["run_id"], served["published_at"]) if served else None


def _check_warnings(checks_json: str | None) -> list[str]:
    checks: dict[str, Any] = json.loads(checks_json or "{}")
    return [f"{name}: {warning}" for name, check in sorted(checks.items()) for warning in check.get("warnings", [])]


def render_status(console: Console, settings: Settings) -> None:
    if not settings.build_db.exists():
        console.print("Nothing built yet: run [bold]mmr run[/].")
        return
    with duckdb.connect(str(settings.build_db), read_only=True) as con:
        publishes = _query(
            con,
            "select run_id, published_at, status, periods, checks, message from audit.publish_log "
            "order by published_at desc",
        )
        checks = _query(
            con,
            "select run_id, checked_at, asset, suite, success, failures "
            "from audit.check_results order by checked_at desc limit 50",
        )
        sources = _query(
            con,
            "select source, count(*), count(*) filter (where status = 'rejected'), sum(rows_read), "
            "sum(rows_accepted), sum(rows_rejected), max(ingested_at) from raw.ingestion_log "
            "group by source order by source",
        )
        problems = _query(
            con,
            "select source, file_name, period, rows_read, rows_accepted, rows_rejected, status, message "
            "from raw.ingestion_log where status <> 'accepted' order by ingested_at desc limit 20",
        )
    served = served_now(settings)
    if served:
        console.print(f"Published: {settings.published_location} (run {served[0]}, published {_at(served[1])})")
    else:
        console.print(f"Published: {settings.published_location} (not published yet)")

    if publishes and publishes[0][2] == "rolled_back":
        console.print(f"[yellow]Rolled back[/] at {_at(publishes[0][1])}: {escape(publishes[0][5] or '')}")
    good = next((p for p in publishes if p[2] == "published"), None)
    if good:
        console.print(f"[green]Last good publish[/]: run {good[0]} at {_at(good[1])}, periods {escape(good[3] or '')}")
        for warning in _check_warnings(good[4]):
            console.print(f"  [yellow]warning[/]: {escape(warning)}")
    else:
        console.print("No good publish yet.")

    _render_last_failure(console, publishes, checks)
    for source, _file, period, *_counts, state, message in problems:
        if state == "held_back":
            console.print(f"[yellow]Held back[/] ({source} {period}): {escape(message or '')}")

    audits = Table(
        "checked at", "run", "asset", "suite", "result", "failed expectations", title="Audits (latest first)"
    )
    for run_id, at, asset, suite, success, failures_json in checks[:20]:
        failures = json.loads(failures_json or "[]")
        if not success:
            result = "[red]failed"
        elif failures:
            result = "[yellow]passed with warnings"
        else:
            result = "[green]passed"
        named = "; ".join(f"{f.get('severity', 'error')}: {expectation_label(f)}" for f in failures)
        audits.add_row(f"{at:%Y-%m-%d %H:%M:%S}", run_id[:8], asset, suite, result, escape(named))
    console.print(audits)

    table = Table(
        "source",
        "batches",
        "rejected files",
        "rows read",
        "accepted",
        "quarantined",
        "last delivery",
        title="Ingestion per source",
    )
    for source, batches, rejected_files, read, accepted, rejected, last in sources:
        table.add_row(
            source, f"{batches:,}", f"{rejected_files:,}", f"{read:,}", f"{accepted:,}", f"{rejected:,}", _at(last)
        )
    console.print(table)
    if problems:
        attention = Table(
            "source",
            "file",
            "period",
            "read",
            "accepted",
            "rejected",
            "status",
            "message",
            title="Batches that need attention (latest first)",
        )
        for source, file_name, period, read, accepted, rejected, state, message in problems:
            attention.add_row(
                source, file_name, period, str(read), str(accepted), str(rejected), state, escape(message or "")
            )
        console.print(attention)
    quarantined = sorted(settings.quarantine_dir.glob("*/*/reasons.csv"))
    if quarantined:
        console.print(f"[yellow]Quarantine[/]: {len(quarantined)} batches; see {settings.quarantine_dir}")
        for reasons in quarantined[-10:]:
            console.print(f"  {reasons.parent.relative_to(settings.quarantine_dir)}")


def _render_last_failure(console: Console, publishes: list[tuple], checks: list[tuple]) -> None:
    """The most recent run whose audit failed (its failed checks and expectations) or whose publish failed."""
    failed_audit = next((c for c in checks if not c[4]), None)
    failed_publish = next((p for p in publishes if p[2] in ("blocked", "failed")), None)
    if failed_audit and (not failed_publish or failed_audit[1] >= failed_publish[1]):
        run_id = failed_audit[0]
        console.print(f"[red]Last failure[/]: audit of run {run_id} at {_at(failed_audit[1])}; nothing was published")
        for check_run, _checked_at, asset, suite, success, failures_json in checks:
            if check_run != run_id or success:
                continue
            errors = [f for f in json.loads(failures_json or "[]") if f.get("severity", "error") == "error"]
            console.print(f"  gx_{suite} on {asset} failed:")
            for failure in errors:
                console.print(f"    {escape(expectation_label(failure))}")
    elif failed_publish:
        console.print(
            f"[red]Last failure[/]: publish of run {failed_publish[0]} at {_at(failed_publish[1])} "
            f"{failed_publish[2]}: {escape(failed_publish[5] or '')}"
        )
    else:
        console.print("No failed audit or publish.")
