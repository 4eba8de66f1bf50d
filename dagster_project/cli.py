"""`mmr`: the one command line of MMR."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from dagster_project.settings import PROJECT_ROOT, get_settings

app = typer.Typer(
    help="Monitor Maatschappelijk Resultaat: the outcome warehouse of the social domain.",
    no_args_is_help=True,
)
console = Console()

DBT_DIR = PROJECT_ROOT / "dbt"
#: The Dagster instance: its run queue lets one run write the warehouse at a time.
DAGSTER_YAML = Path(__file__).with_name("dagster.yaml")


def dagster_postgres_storage(dsn: str) -> str:
    """In the shared mode, runs, events and schedules live in the shared PostgreSQL warehouse too.

    The connection goes through psycopg2 (Dagster's NOTIFY does not bind with psycopg 3); a
    password stays out of the file: it is read from `MMR_POSTGRES_PASSWORD`, set from the DSN.
    """
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    password = "\n      password:\n        env: MMR_POSTGRES_PASSWORD" if parts.get("password") else ""
    return f"""\
storage:
  postgres:
    postgres_db:
      scheme: postgresql+psycopg2
      username: "{parts.get("user", "postgres")}"
      hostname: "{parts.get("host", "localhost")}"
      port: {int(parts.get("port") or 5432)}
      db_name: "{parts.get("dbname", "postgres")}"{password}
"""


def _readable(manifest: Path) -> bool:
    """The manifest exists and is whole (one written half by an older version is parsed anew)."""
    try:
        json.loads(manifest.read_bytes())
    except (OSError, ValueError):
        return False
    return True


def _write_when_changed(path: Path, text: str) -> None:
    """Every command writes the instance file, while the daemon and other commands read it: an
    unchanged file is left alone, and a changed one is swapped in whole, never seen half written."""
    if path.exists() and path.read_text() == text:
        return
    written = path.with_name(f".{path.name}.{os.getpid()}")
    written.write_text(text)
    os.replace(written, path)


def prepare() -> None:
    """Runtime folders, Dagster home and the dbt manifest the Dagster definitions load from."""
    settings = get_settings()
    settings.ensure_dirs()
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    from dagster_project.resources import warehouse_for

    dsn = warehouse_for(settings).dagster_storage_dsn()
    storage = dagster_postgres_storage(dsn) if dsn else ""
    _write_when_changed(settings.dagster_home / "dagster.yaml", DAGSTER_YAML.read_text() + storage)
    if dsn:
        import dagster as dg

        from dagster_project.lib.postgres import dagster_storage_lock

        with dagster_storage_lock(dsn), dg.DagsterInstance.get():
            pass
    # Parse before dagster_project.dbt is imported: it builds the dbt assets from the manifest on import.
    # Only the project's own files count (not what runs write under target/ and logs/); the manifest is
    # parsed beside it and swapped in whole, so a process loading it meanwhile never reads half a file.
    manifest = DBT_DIR / "target" / "manifest.json"
    own = [entry for entry in DBT_DIR.iterdir() if entry.name not in {"target", "logs"}]
    files = (path for entry in own for path in (entry.rglob("*") if entry.is_dir() else [entry]))
    newest_source = max(path.stat().st_mtime for path in files if path.suffix in {".sql", ".yml", ".csv"})
    if not _readable(manifest) or manifest.stat().st_mtime < newest_source:
        manifest.parent.mkdir(exist_ok=True)
        parsed = Path(tempfile.mkdtemp(prefix="parse-", dir=manifest.parent))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dbt.cli.main",
                "parse",
                "--quiet",
                "--project-dir",
                str(DBT_DIR),
                "--profiles-dir",
                str(DBT_DIR),
                "--target-path",
                str(parsed),
            ],
            check=True,
            env={**os.environ, **warehouse_for(settings).dbt_env()},
        )
        os.replace(parsed / "manifest.json", manifest)
        shutil.rmtree(parsed, ignore_errors=True)
    from dagster_project.dbt import dbt_environment

    dbt_environment()


@app.command()
def generate(
    scale: Annotated[str, typer.Option(help="demo (one region, seconds) or national (the whole country)")] = "demo",
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 42,
    out: Annotated[Path | None, typer.Option(help="Folder to write the sources to (default var/landing).")] = None,
) -> None:
    """Generate synthetic deliveries of every source in their real formats."""
    from dagster_project.synthetic import generate as generate_sources

    settings = get_settings()
    settings.ensure_dirs()
    summary = generate_sources(scale, seed, out or settings.landing_dir, settings.generator_dir / "truth.json")
    table = Table("source", "rows", title=f"Generated ({scale}, seed {seed})")
    for source, rows in summary.items():
        table.add_row(source, f"{rows:,}" if isinstance(rows, int) else str(rows))
    console.print(table)


def _follow(instance, run_id: str, total: int, stop: threading.Event, live: Console) -> None:
    from dagster_project.ops.run_progress import RunProgress

    done = RunProgress(instance, run_id)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=live,
    ) as progress:
        task = progress.add_task("starting", total=total)
        while not stop.is_set():
            if done.read():
                progress.update(task, completed=min(done.count, total), description=done.last)
            time.sleep(0.3)
        progress.update(task, completed=total if done.count else 0, description="finished")


VERBOSE = Annotated[bool, typer.Option("--verbose", "-v", help="Also show every check and the dbt output.")]


@app.command()
def run(
    demo: Annotated[
        bool, typer.Option(help="Generate demo data first when nothing has landed and no demo was generated.")
    ] = True,
    verbose: VERBOSE = False,
) -> None:
    """Ingest → transform → analyse → audit → publish, as one Dagster run (visible in the UI)."""
    prepare()
    settings = get_settings()
    from dagster_project.resources import warehouse_for

    loader = warehouse_for(settings).loader
    if loader:
        console.print(
            f"[red]This installation ingests for {loader} only[/]: the region builds and publishes. Use `mmr ingest`."
        )
        raise typer.Exit(2)
    # ingested deliveries leave landing/ (MMR_LANDING_RETENTION_DAYS): a demo is generated once
    generated = (settings.generator_dir / "truth.json").exists()
    if demo and not generated and not any(settings.landing_dir.glob("*/*")):
        generate(scale="demo", seed=42, out=None)
    _execute("mmr_job", "run", verbose)


@app.command()
def ingest(verbose: VERBOSE = False) -> None:
    """Ingest what has landed into the raw layer, without building or publishing.

    In the shared mode this is a gemeente's delivery run: its rows go to its own partitions of the
    regional warehouse, while other gemeenten deliver at the same time; the region's `mmr run`
    builds and publishes.
    """
    prepare()
    _execute("ingest_job", "ingest", verbose)


def _execute(job_name: str, command: str, verbose: bool = False, run_config: dict | None = None):
    """One Dagster run of a job, once no other run writes the warehouse, followed with a progress
    bar and summed up in a screen; exits non-zero when it fails."""
    from dagster import DagsterInstance

    from dagster_project.definitions import defs
    from dagster_project.ops import writers
    from dagster_project.ops.run_summary import output_to, print_summary

    settings = get_settings()
    job = defs.resolve_job_def(job_name)
    instance = DagsterInstance.get()
    try:
        writers.wait_for_warehouse(instance, settings, console)
    except KeyboardInterrupt:
        console.print("Stopped waiting; nothing was run.")
        raise typer.Exit(130) from None
    run_id = str(uuid.uuid4())
    total = len(job.asset_layer.selected_asset_keys) + len(job.asset_layer.asset_graph.asset_check_keys)
    stop = threading.Event()
    live = Console(file=sys.stdout)
    follower = threading.Thread(target=_follow, args=(instance, run_id, total, stop, live), daemon=True)
    follower.start()
    output = None if verbose else settings.log_dir / "runs" / f"{run_id}.log"
    try:
        with output_to(output):
            result = job.execute_in_process(
                instance=instance,
                run_id=run_id,
                raise_on_error=False,
                tags=writers.cli_tags(settings, command),
                run_config={
                    **(run_config or {}),
                    "loggers": {"console": {"config": {"log_level": "INFO" if verbose else "WARNING"}}},
                },
            )
    finally:
        stop.set()
        follower.join()
    if job_name in ("mmr_job", "ingest_job") or not result.success:
        print_summary(console, settings, result, publishes=job_name == "mmr_job", verbose=verbose)
        if output:
            console.print(f"Full output of the run: {output} (or `--verbose`)")
    if not result.success:
        raise typer.Exit(1)
    return result


@app.command()
def fetch(
    source: Annotated[str, typer.Argument(help="cbs (Kerncijfers wijken en buurten) or vektis (Zvw open data)")],
    year: Annotated[
        list[int] | None, typer.Option(help="Year to fetch (repeatable); default: every new period.")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Vektis only: fetch this one file instead of the usual URL.")] = None,
) -> None:
    """Fetch CBS or Vektis open data into var/landing/; the next run or the landing sensor ingests it."""
    from dagster_project.lib.connectors import FetchError
    from dagster_project.sources import cbs_odata, vektis_open_data

    settings = get_settings()
    settings.ensure_dirs()
    if source not in {"cbs", "vektis"}:
        console.print(f"[red]Unknown source {source!r}[/]: choose cbs or vektis")
        raise typer.Exit(2)
    if url and (source != "vektis" or len(year or []) != 1):
        console.print("[red]--url needs source vektis and exactly one --year[/]")
        raise typer.Exit(2)
    try:
        if url:
            landed = vektis_open_data.fetch_year(year[0], settings, url)
        else:
            connector = cbs_odata if source == "cbs" else vektis_open_data
            landed = connector.fetch(year or None, settings)
    except FetchError as exc:
        console.print(f"[red]Fetch failed[/]: {exc}")
        raise typer.Exit(1) from None
    table = Table("file", "period", "rows", "status", "from", title=f"Fetched ({source})")
    for item in landed:
        table.add_row(str(item.path), item.period, f"{item.rows:,}", item.status, item.origin)
    console.print(table if landed else f"{source}: no new period")


@app.command()
def status() -> None:
    """Last publish, last failure, audit results, ingestion batches and quarantine."""
    from dagster_project.ops.status import render_status

    render_status(console, get_settings())


@app.command()
def bench(
    scale: Annotated[str, typer.Option(help="national (the targets' scale) or demo (a quick check)")] = "national",
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
    charts: Annotated[bool, typer.Option(help="Also time every chart query through Superset.")] = True,
    repeats: Annotated[int, typer.Option(help="Times each chart query is sent.")] = 5,
    regenerate: Annotated[
        bool, typer.Option(help="Generate the deliveries again instead of reusing var/bench/generated/.")
    ] = False,
    postgres_scale: Annotated[
        str | None,
        typer.Option(help="Scale of the DuckDB/PostgreSQL comparison (default: --scale; national builds a slice)."),
    ] = None,
) -> None:
    """Measure generation, the full and incremental build, ingestion and chart queries; report to var/bench/."""
    from dagster_project.ops.bench import run_benchmark

    settings = get_settings()
    report = run_benchmark(settings, scale, seed, charts, repeats, console, regenerate, postgres_scale)
    table = Table("measure", "measured", "target", "met", title=f"Benchmark ({scale})")
    for name, verdict in report["verdicts"].items():
        met = {True: "[green]yes", False: "[red]no", None: "—"}[verdict["met"]]
        table.add_row(name, str(verdict["measured"]), str(verdict["target"]), met)
    console.print(table)
    console.print(f"Report: {settings.home / 'bench' / 'report.md'} and report.json")


@app.command()
def docs() -> None:
    """Build the dbt documentation site (models, columns, tests, lineage) into var/dbt_docs/."""
    prepare()
    settings = get_settings()
    target = settings.home / "dbt_docs"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "docs",
            "generate",
            "--static",
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(target),
        ],
        check=True,
    )
    console.print(f"dbt docs: open {target / 'static_index.html'} in a browser")


@app.command()
def report(
    gemeente: Annotated[str, typer.Option(help="Gemeente code, e.g. GM0599.")],
    year: Annotated[int | None, typer.Option(help="Report year (default: the latest published).")] = None,
) -> None:
    """Write the council report of a gemeente as CSV and printable HTML into var/reports/ (published data only)."""
    from dagster_project.ops.report import ReportError, write_report

    try:
        written = write_report(get_settings(), gemeente, year)
    except ReportError as error:
        console.print(f"[red]No report[/]: {error}")
        raise typer.Exit(1) from error
    console.print(f"Raadsrapportage ({written.rows} indicators): {written.csv}")
    console.print(f"Printable: {written.html}")


@app.command("grant-ingest")
def grant_ingest(
    gemeente: Annotated[str, typer.Argument(help="Gemeente code, e.g. GM0518.")],
    login: Annotated[str | None, typer.Option(help="An existing login role to make a member.")] = None,
) -> None:
    """Shared mode, as the region: let a gemeente ingest into its own partitions only (role mmr_ingest_<gm>)."""
    from dagster_project.lib.ingest_roles import grant_ingest as grant

    settings = get_settings()
    if settings.warehouse != "postgres":
        console.print("[red]Only in the shared mode[/]: set MMR_WAREHOUSE=postgres and MMR_POSTGRES_DSN")
        raise typer.Exit(2)
    try:
        partitions = grant(settings.require_postgres_dsn(), gemeente, login)
    except (ValueError, LookupError) as refused:
        console.print(f"[red]Not granted[/]: {refused}")
        raise typer.Exit(1) from None
    console.print(f"{gemeente.upper()} may write {len(partitions)} partitions: {', '.join(partitions)}")


def published_or_exit(nothing: str = "Nothing published") -> dict:
    """Every published table, whole (what `attack` and `digest` read); exit 1 when nothing is published."""
    from dagster_project.ops.disclosure_attacks import published_surface

    try:
        return published_surface(get_settings())
    except FileNotFoundError as missing:
        console.print(f"[red]{nothing}[/]: {missing}")
        raise typer.Exit(1) from None


@app.command()
def attack() -> None:
    """Try every known disclosure attack on what is published, as a user who reads every table; exit 1 on a find."""
    from dagster_project.ops.disclosure_attacks import run_all

    surface = published_or_exit("Nothing to attack")
    findings = run_all(surface)
    table = Table("attack", "recovered", "example", title=f"Disclosure attacks on {len(surface)} published tables")
    for name, found in findings.items():
        table.add_row(name, str(len(found)), str(found[0]) if found else "")
    console.print(table)
    if any(findings.values()):
        raise typer.Exit(1)


@app.command()
def digest(
    save: Annotated[Path | None, typer.Option(help="Write the digest to this JSON file.")] = None,
    compare: Annotated[
        Path | None, typer.Option(help="A digest saved earlier: exit 1 when a published table differs from it.")
    ] = None,
) -> None:
    """A digest of every published table (rows and a hash of its figures), to prove two builds publish the same."""
    from dagster_project.ops.published_digest import differences, published_digest

    digests = published_digest(published_or_exit())
    table = Table("table", "rows", "sha256", title=f"Digest of {len(digests)} published tables")
    for name, one in digests.items():
        table.add_row(name, f"{one['rows']:,}", one["sha256"][:16])
    console.print(table)
    if save:
        save.write_text(json.dumps(digests, indent=2) + "\n")
        console.print(f"Saved to {save}")
    if compare:
        differ = differences(json.loads(compare.read_text()), digests)
        for line in differ:
            console.print(f"[red]differs[/] {line}")
        if differ:
            raise typer.Exit(1)
        console.print(f"[green]Identical[/] to {compare}: every published table.")


@app.command()
def rollback() -> None:
    """Put the previously published serving database back."""
    from dagster import DagsterInstance

    from dagster_project.ops import writers
    from dagster_project.publish.assets import rollback as rollback_serving

    prepare()
    settings = get_settings()
    writers.wait_for_warehouse(DagsterInstance.get(), settings, console)
    rollback_serving(settings)
    console.print("[green]Rolled back[/] to the previous publish.")


@app.command()
def withdraw(
    source: Annotated[str, typer.Argument(help="The source (landing folder), e.g. gemeente_wmo.")],
    delivery: Annotated[str, typer.Argument(help="The delivered file name or its batch id (`mmr status`).")],
) -> None:
    """Take a delivery back: its rows leave the raw layer; the next `mmr run` publishes without it."""
    prepare()
    config = {"ops": {"withdraw_delivery": {"config": {"source": source, "target": delivery}}}}
    result = _execute("withdraw_job", "withdraw", run_config=config)
    done = result.output_for_node("withdraw_delivery")
    rows = sum(done["raw_rows"].values())
    console.print(
        f"[green]Withdrawn[/]: {source} {', '.join(done['files'])} ({rows:,} raw rows, "
        f"periods {', '.join(done['periods'])}); run [bold]mmr run[/] to publish without it."
    )
    for moved in done["moved"]:
        console.print(f"  the file moved out of the landing folder to {moved}")


@app.command()
def serve() -> None:
    """Start Dagster (webserver + daemon) and Superset in the background and print where they are."""
    prepare()
    from dagster_project.ops import services

    services.start_all(console)


@app.command("export-dashboards")
def export_dashboards() -> None:
    """Export dashboards edited in the Superset UI back into superset/assets/ (review and commit)."""
    from dagster_project.ops import superset

    console.print(superset.export_dashboards())


@app.command()
def stop() -> None:
    """Stop the background services started by `mmr serve`."""
    from dagster_project.ops import services

    services.stop_all(console)


if __name__ == "__main__":
    app()
