"""What `mmr status` shows: what is served, the last good publish, the last failure, audits, batches,
quarantine."""

import json
import os
from datetime import datetime
from typing import Any

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dagster_project.ops import runlog
from dagster_project.resources import warehouse_for
from dagster_project.settings import Settings
from expectations.report import expectation_label


def _at(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value else "?"


def served_now(settings: Settings) -> tuple[str, datetime] | None:
    """Run id and time of the version served now, or None (also while a file is being replaced)."""
    try:
        served = warehouse_for(settings).served_run()
    except duckdb.Error:
        return None
    return (served["run_id"], served["published_at"]) if served else None


def _check_warnings(checks_json: str | None) -> list[str]:
    checks: dict[str, Any] = json.loads(checks_json or "{}")
    return [f"{name}: {warning}" for name, check in sorted(checks.items()) for warning in check.get("warnings", [])]


def _periods(periods: list[str]) -> tuple[str, int, list[str]]:
    """First–last, count and gaps of a source's periods (`<scope>:<time>` or `<time>`).

    A gap is a month (or year) missing between the first and the last delivery of the same scope,
    e.g. a gemeente's month that was not delivered while the months around it were.
    """
    by_scope: dict[str, set[str]] = {}
    for period in periods:
        scope, _, time = period.rpartition(":")
        by_scope.setdefault(scope, set()).add(time)
    times = sorted({t for ts in by_scope.values() for t in ts})
    span = f"{times[0]}–{times[-1]}" if len(times) > 1 else (times[0] if times else "")
    gaps = []
    for scope, present in sorted(by_scope.items()):
        steps = [_step(t) for t in present]
        if None in steps or len(steps) < 2:
            continue
        monthly = "-" in next(iter(present))
        for missing in sorted(set(range(min(steps), max(steps) + 1)) - set(steps)):
            label = f"{missing // 12}-{missing % 12 + 1:02d}" if monthly else str(missing)
            gaps.append(f"{scope}:{label}" if scope else label)
    return span, len(periods), gaps


def _step(time: str) -> int | None:
    """A month or a year as a whole number, so that consecutive periods differ by one."""
    try:
        if len(time) == 7 and time[4] == "-":
            return int(time[:4]) * 12 + int(time[5:]) - 1
        return int(time) if len(time) == 4 else None
    except ValueError:
        return None


def render_status(console: Console, settings: Settings) -> None:
    """What is served and how it got there, in one screen, read from the published database and the
    run log: never from the build database, which a run holds."""
    if not settings.build_db.exists():
        console.print("Nothing built yet: run [bold]mmr run[/].")
        return
    if not runlog.ensure(settings):
        console.print("[yellow]A run holds the warehouse[/]; its log is read once the run is over.")
    publishes = [
        (run_id, runlog.timestamp(at), state, periods, checks, message)
        for run_id, at, state, periods, checks, message in runlog.query(
            settings,
            "select run_id, published_at, status, periods, checks, message from publish_log order by published_at desc",
        )
    ]
    checks = [
        (run_id, runlog.timestamp(at), asset, suite, bool(success), failures)
        for run_id, at, asset, suite, success, failures in runlog.query(
            settings,
            "select run_id, checked_at, asset, suite, success, failures from check_results "
            "order by checked_at desc limit 200",
        )
    ]
    served = served_now(settings)
    location = warehouse_for(settings).published_location
    if served:
        console.print(f"Published: {location} (run {served[0]}, published {_at(served[1])})")
    else:
        console.print(f"Published: {location} (not published yet)")
    _render_runs(console, settings)

    if publishes and publishes[0][2] == "rolled_back":
        console.print(f"[yellow]Rolled back[/] at {_at(publishes[0][1])}: {escape(publishes[0][5] or '')}")
    good = next((p for p in publishes if p[2] == "published"), None)
    if good:
        periods = json.loads(good[3] or "[]")
        console.print(f"[green]Last good publish[/]: run {good[0]} at {_at(good[1])}, {len(periods):,} periods")
        for warning in _check_warnings(good[4]):
            console.print(f"  [yellow]warning[/]: {escape(warning)}")
    else:
        console.print("No good publish yet.")

    _render_last_failure(console, publishes, checks)
    _render_audits(console, checks)
    _render_sources(console, settings)


def _render_runs(console: Console, settings: Settings) -> None:
    """Runs that write the warehouse now or wait for it (from the Dagster instance, read only)."""
    try:
        import dagster as dg

        from dagster_project.ingest.sensor import BUSY, WRITERS
        from dagster_project.ops.writers import describe

        os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
        if not (settings.dagster_home / "dagster.yaml").exists():
            return
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(statuses=BUSY, tags=WRITERS), limit=10)
    except Exception as exc:  # the status shows what it can; the Dagster UI has the rest
        console.print(f"Runs: unknown ({type(exc).__name__})")
        return
    for run in reversed(runs):
        console.print(f"Run {run.run_id[:8]} ({describe(run)}): {run.status.value.lower()}")


def _render_audits(console: Console, checks: list[tuple]) -> None:
    """The audit of the latest run that was audited: how many checks passed, the others named."""
    if not checks:
        return
    run_id = checks[0][0]
    latest = [c for c in checks if c[0] == run_id]
    passed = sum(1 for c in latest if c[4] and not json.loads(c[5] or "[]"))
    console.print(f"Audit of run {run_id[:8]} at {_at(latest[0][1])}: {passed} of {len(latest)} checks passed clean")
    for _run, _at_time, asset, suite, success, failures_json in latest:
        failures = json.loads(failures_json or "[]")
        if success and not failures:
            continue
        state = "[yellow]warnings[/]" if success else "[red]failed[/]"
        named = "; ".join(f"{f.get('severity', 'error')}: {expectation_label(f)}" for f in failures[:3])
        more = f" (+{len(failures) - 3} more)" if len(failures) > 3 else ""
        console.print(f"  gx_{suite} on {asset} {state}: {escape(named)}{more}")


def _render_sources(console: Console, settings: Settings) -> None:
    sources = runlog.query(
        settings,
        "select source, count(*), sum(status = 'rejected'), sum(status = 'withdrawn'), sum(rows_read), "
        "sum(case when status in ('rejected', 'withdrawn') then 0 else rows_accepted end), sum(rows_rejected), "
        "max(ingested_at) from ingestion_log group by source order by source",
    )
    periods: dict[str, list[str]] = {}
    for source, period in runlog.query(
        settings,
        "select distinct source, period from ingestion_log "
        f"where status not in ({', '.join('?' for _ in runlog.NOT_IN_RAW)})",
        runlog.NOT_IN_RAW,
    ):
        periods.setdefault(source, []).append(period)
    table = Table(
        "source",
        "files",
        "rejected",
        "withdrawn",
        "rows accepted",
        "quarantined",
        "periods",
        "count",
        "gaps",
        "last delivery",
        title="Ingestion per source",
    )
    for source, files, rejected, withdrawn, _read, accepted, quarantined, last in sources:
        span, count, gaps = _periods(periods.get(source, []))
        shown = ", ".join(gaps[:2]) + (f" +{len(gaps) - 2}" if len(gaps) > 2 else "") if gaps else "none"
        table.add_row(
            source,
            f"{files:,}",
            f"{rejected or 0:,}",
            f"{withdrawn or 0:,}",
            f"{accepted or 0:,}",
            f"{quarantined or 0:,}",
            span,
            f"{count:,}",
            shown,
            _at(runlog.timestamp(last)),
        )
    console.print(table)
    attention = runlog.query(
        settings,
        "select source, file_name, status, message from ingestion_log where status not in ('accepted') "
        "order by ingested_at desc limit 8",
    )
    if attention:
        console.print("Batches that need attention (latest first):")
        for source, file_name, state, message in attention:
            label = state.replace("_", " ").capitalize()
            console.print(f"  {source}/{file_name}: {label}: {escape(message or '')}"[:240])
    quarantined = sorted(settings.quarantine_dir.glob("*/*/reasons.csv"))
    if quarantined:
        console.print(f"[yellow]Quarantine[/]: {len(quarantined)} batches; reasons in {settings.quarantine_dir}")


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
