"""What `mmr run` and `mmr ingest` print when a run ends: a screen at most, the details on request.

Sources ingested and quarantined (with where to look), checks failed (each named) and how many
passed, steps that failed, and what was published. `--verbose` adds every check.
"""

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dagster_project.settings import Settings

#: Failed checks and failed steps named one by one, up to this many each.
LISTED = 15


@contextlib.contextmanager
def output_to(path: Path | None) -> Iterator[None]:
    """Send what a run prints (dbt's output, library logs) to `path` instead of the terminal."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    with path.open("a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        handlers, root.handlers = root.handlers, [logging.StreamHandler(log)]
        try:
            yield
        finally:
            root.handlers = handlers


def _events(result, kind: str) -> list:
    return [event for event in result.all_events if event.event_type_value == kind]


def ingested(result) -> dict[str, dict[str, int]]:
    """Per raw asset: files read, files rejected whole, rows ingested and rows quarantined."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for event in _events(result, "ASSET_MATERIALIZATION"):
        materialization = event.event_specific_data.materialization
        key = materialization.asset_key.path
        if key[0] != "raw":
            continue
        for name in ("files", "rejected_files", "rows_ingested", "quarantined_rows"):
            value = materialization.metadata.get(name)
            if value is not None:
                counts["/".join(key)][name] += int(value.value)
    return counts


def _listed(console: Console, lines: list[str]) -> None:
    for line in lines[:LISTED]:
        console.print(f"  {line}")
    if len(lines) > LISTED:
        console.print(f"  … and {len(lines) - LISTED} more (`mmr status`, the Dagster UI or `--verbose`)")


def print_summary(console: Console, settings: Settings, result, publishes: bool, verbose: bool = False) -> None:
    checks = [event.asset_check_evaluation_data for event in _events(result, "ASSET_CHECK_EVALUATION")]
    if verbose:
        table = Table("check", "asset", "result", title="Checks")
        for check in checks:
            table.add_row(
                check.check_name,
                check.asset_key.to_user_string(),
                "[green]passed[/]" if check.passed else f"[red]failed ({check.severity.value})[/]",
            )
        console.print(table)

    counts = ingested(result)
    new = {key: c for key, c in counts.items() if c["files"]}
    files = sum(c["files"] for c in new.values())
    if new:
        rows = sum(c["rows_ingested"] for c in new.values())
        console.print(f"Ingested: {files:,} files, {rows:,} rows into {len(new)} raw tables")
        if verbose or len(new) <= 6:
            for key, c in sorted(new.items()):
                console.print(f"  {key}: {c['files']:,} files, {c['rows_ingested']:,} rows")
    elif counts:
        console.print("Ingested: nothing new had landed")
    rejected = sum(c["rejected_files"] for c in counts.values())
    quarantined = sum(c["quarantined_rows"] for c in counts.values())
    if rejected or quarantined:
        console.print(
            f"[yellow]Quarantined[/]: {rejected:,} files rejected whole, {quarantined:,} rows; "
            f"reasons in {settings.quarantine_dir}/<source>/<batch>/reasons.csv (`mmr status` lists them)"
        )

    failed = [c for c in checks if not c.passed]
    if checks:
        passed = len(checks) - len(failed)
        console.print(f"Checks: {passed:,} passed, {len(failed):,} failed")
        _listed(
            console,
            [
                f"[red]{c.severity.value.lower()}[/] {escape(c.check_name)} on {c.asset_key.to_user_string()}"
                for c in failed
            ],
        )

    step_failures = _events(result, "STEP_FAILURE")
    if step_failures:
        console.print(f"[red]Failed steps[/]: {len(step_failures)}")
        _listed(
            console,
            [f"{event.step_key}: {escape(_cause(event.event_specific_data.error))}" for event in step_failures],
        )

    if result.success and not publishes:
        console.print(f"[green]Ingested[/] (run {result.run_id}); `mmr status` lists the batches")
    elif result.success:
        from dagster_project.resources import warehouse_for

        console.print(f"[green]Published[/] {warehouse_for(settings).published_location} (run {result.run_id})")
    else:
        console.print(
            f"[red]Run {result.run_id} failed[/]: the serving database was left as it was. "
            "See `mmr status` and the Dagster UI."
        )


def _cause(error) -> str:
    """The first line of the innermost error: what went wrong, not where Dagster caught it."""
    while error.cause is not None:
        error = error.cause
    lines = (error.message or "").strip().splitlines()
    return lines[0][:200] if lines else error.cls_name or "error"
