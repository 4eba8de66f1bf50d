"""`mmr bench`: what users feel at the scale of the whole country, measured on this machine.

The benchmark runs the real product in its own home (`var/bench/home`): it generates the
deliveries, holds back the last month of every municipal source, runs the full pipeline from
landed files to published (per stage, with the peak memory of the whole process tree), lands the
held-back month and runs again (the incremental build), then starts Superset on the published
database and times every chart query of every dashboard as the dashboard sends it.
"""

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from rich.console import Console

from dagster_project.settings import PROJECT_ROOT, Settings

MONTHLY_FILE = re.compile(r"_(\d{4}-\d{2})\.csv$")
TARGETS = {
    "full_build_seconds": 600,
    "full_build_peak_rss_gib": 4,
    "incremental_share_of_full": 0.05,
    "ingest_rows_per_second_per_core": 1_000_000,
    "chart_query_p95_ms": 300,
}


@dataclass
class Measured:
    seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str = field(repr=False, default="")


def measure(command: list[str], env: dict[str, str], timeout: float = 6 * 3600) -> Measured:
    """Run a command; sample the summed RSS of its whole process tree while it runs."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate(timeout=timeout)
    done.set()
    sampler.join()
    return Measured(time.perf_counter() - started, peak, process.returncode, stdout)


def hold_back_last_month(landing: Path, holding: Path) -> str | None:
    """Move the newest month of every monthly delivery aside, to land it after the full build."""
    monthly = [p for p in landing.glob("*/*.csv") if MONTHLY_FILE.search(p.name)]
    if not monthly:
        return None
    last = max(MONTHLY_FILE.search(p.name).group(1) for p in monthly)
    for path in monthly:
        if MONTHLY_FILE.search(path.name).group(1) == last:
            target = holding / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
    return last


def land(holding: Path, landing: Path) -> None:
    for path in holding.glob("*/*.csv"):
        target = landing / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)


def stage_seconds(dagster_home: Path) -> tuple[dict[str, float], str]:
    """Durations per stage of the latest run, from the steps Dagster recorded."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_SUCCESS, limit=10_000)
        stages: dict[str, float] = {}
        for record in records.records:
            event = record.event_log_entry.dagster_event
            stage = stage_of(event.step_key)
            stages[stage] = stages.get(stage, 0.0) + event.event_specific_data.duration_ms / 1000
    return stages, run.run_id


def stage_of(step_key: str) -> str:
    if step_key.startswith("raw__"):
        return "ingest"
    if "_gx_" in step_key:
        return "audit"
    if step_key.startswith("publish__"):
        return "publish"
    if step_key.startswith("analytics__"):
        return "analytics"
    return "dbt"


def ingest_metadata(dagster_home: Path, run_id: str) -> dict[str, float]:
    """Wall seconds and CPU seconds (all threads of the process) the ingest assets of a run
    recorded in their materialisation metadata."""
    from dagster import DagsterEventType, DagsterInstance

    totals = {"seconds": 0.0, "cpu_seconds": 0.0}
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=10_000)
        for record in records.records:
            event = record.event_log_entry.dagster_event
            if not event.asset_key or event.asset_key.path[0] != "raw":
                continue
            metadata = event.step_materialization_data.materialization.metadata
            for name in totals:
                if name in metadata:
                    totals[name] += float(metadata[name].value)
    return totals


def ingested_rows(build_db: Path, run_started: float) -> int:
    import duckdb

    with duckdb.connect(str(build_db), read_only=True) as con:
        return int(
            con.execute(
                "select coalesce(sum(rows_read), 0) from raw.ingestion_log where epoch(ingested_at) >= ?",
                [run_started - 1],
            ).fetchone()[0]
        )


def chart_latencies(settings: Settings, repeats: int) -> dict[str, list[float]]:
    """Every chart of every dashboard, queried through Superset's chart data API (no cache)."""
    from dagster_project.lib import superset

    superset.bootstrap(settings, echo=False)
    superset.start(settings)
    try:
        client = superset.SupersetClient(superset.url(settings), superset.admin_password(settings))
        timings: dict[str, list[float]] = {}
        for chart in client.all("chart"):
            context = client.query_context(chart["id"])
            for _ in range(repeats):
                started = time.perf_counter()
                client.chart_data(chart["id"], context)
                timings.setdefault(chart["slice_name"], []).append((time.perf_counter() - started) * 1000)
        return timings
    finally:
        superset.stop(settings)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "processor": platform.processor() or platform.machine(),
    }


def run_benchmark(settings: Settings, scale: str, seed: int, charts: bool, repeats: int, console: Console) -> dict:
    bench_dir = settings.home / "bench"
    home = bench_dir / "home"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "MMR_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    mmr = [sys.executable, "-m", "dagster_project.cli"]
    report: dict = {"scale": scale, "seed": seed, "machine": machine(), "targets": TARGETS, "measured": {}}
    measured = report["measured"]

    with console.status(f"Generating the {scale} deliveries"):
        generation = measure([*mmr, "generate", "--scale", scale, "--seed", str(seed)], env)
    _require(generation, "generate")
    measured["generation_seconds"] = round(generation.seconds, 2)
    landing, holding = home / "landing", bench_dir / "held_back"
    shutil.rmtree(holding, ignore_errors=True)
    held_month = hold_back_last_month(landing, holding)

    with console.status("Full build: ingest → dbt → audit → publish"):
        started = time.time()
        full = measure([*mmr, "run", "--no-demo"], env)
    _require(full, "full build")
    stages, run_id = stage_seconds(home / "dagster")
    rows = ingested_rows(home / "warehouse" / "build.duckdb", started)
    measured["full_build"] = {
        "seconds": round(full.seconds, 2),
        "peak_rss_gib": round(full.peak_rss_bytes / 2**30, 3),
        "stages_seconds": {k: round(v, 2) for k, v in sorted(stages.items())},
        "dagster_run_id": run_id,
    }
    spent = ingest_metadata(home / "dagster", run_id)
    measured["ingest"] = {
        "rows": rows,
        "rows_per_second": round(rows / stages["ingest"]) if stages.get("ingest") else None,
        "ingest_seconds": round(spent["seconds"], 2),
        "cpu_seconds": round(spent["cpu_seconds"], 2),
        # Per core: rows over the CPU time of every thread ingestion ran (Arrow and DuckDB use all cores).
        "rows_per_second_per_core": round(rows / spent["cpu_seconds"]) if spent["cpu_seconds"] else None,
    }

    if held_month:
        land(holding, landing)
        with console.status(f"Incremental build of {held_month}"):
            incremental = measure([*mmr, "run", "--no-demo"], env)
        _require(incremental, "incremental build")
        measured["incremental_build"] = {
            "month": held_month,
            "seconds": round(incremental.seconds, 2),
            "share_of_full": round(incremental.seconds / full.seconds, 3),
        }

    if charts:
        with console.status("Chart queries through Superset"):
            from dagster_project.settings import Settings as HomeSettings

            timings = chart_latencies(HomeSettings(home=home), repeats)
        every = [t for values in timings.values() for t in values]
        measured["chart_queries"] = {
            "charts": len(timings),
            "queries": len(every),
            "p50_ms": round(statistics.median(every), 1),
            "p95_ms": round(percentile(every, 0.95), 1),
            "per_chart_p95_ms": {name: round(percentile(values, 0.95), 1) for name, values in timings.items()},
        }
    with console.status("The same dbt build on PostgreSQL"):
        measured["postgres_ratio"] = postgres_ratio(home / "warehouse" / "build.duckdb", settings, bench_dir)
    report["notes"] = [postgres_note(measured["postgres_ratio"])]
    report["verdicts"] = verdicts(measured)
    write_report(bench_dir, report)
    return report


LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_ratio(build_db: Path, settings: Settings, bench_dir: Path) -> dict:
    """`dbt build` on PostgreSQL against `dbt build` on DuckDB, from the same raw layer.

    DuckDB builds (full refresh) a copy of the benchmark's warehouse; PostgreSQL builds in a
    scratch database the raw layer is first copied into with COPY (timed apart). The ratio is
    PostgreSQL's seconds over DuckDB's. The server is `MMR_POSTGRES_DSN`, else a local one.
    """
    import psycopg

    from dagster_project.lib import postgres

    dsn = settings.postgres_dsn or LOCAL_POSTGRES
    try:
        with psycopg.connect(dsn, connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        return {"ratio": None, "server": _server(dsn), "unavailable": str(exc).strip().splitlines()[0]}
    work = bench_dir / "postgres_ratio"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    duckdb_copy = work / "build.duckdb"
    shutil.copy(build_db, duckdb_copy)
    started = time.perf_counter()
    on_duckdb = postgres.run_dbt(["build", "--full-refresh"], work / "dbt_duckdb", build_db=duckdb_copy)
    duckdb_seconds = time.perf_counter() - started
    _require(Measured(duckdb_seconds, 0, on_duckdb.returncode, on_duckdb.stdout), "dbt build on DuckDB")
    with postgres.scratch_database(dsn, "mmr_bench") as scratch:
        started = time.perf_counter()
        copied = postgres.copy_raw_layer(duckdb_copy, scratch)
        copy_seconds = time.perf_counter() - started
        postgres.copy_schema(duckdb_copy, scratch, "analytics")
        started = time.perf_counter()
        on_postgres = postgres.run_dbt(["build"], work / "dbt_postgres", dsn=scratch)
        postgres_seconds = time.perf_counter() - started
    _require(Measured(postgres_seconds, 0, on_postgres.returncode, on_postgres.stdout), "dbt build on PostgreSQL")
    duckdb_copy.unlink()
    rows = sum(copied.values())
    return {
        "ratio": round(postgres_seconds / duckdb_seconds, 2),
        "server": _server(dsn),
        "dbt_build_duckdb_seconds": round(duckdb_seconds, 2),
        "dbt_build_postgres_seconds": round(postgres_seconds, 2),
        "raw_copy_seconds": round(copy_seconds, 2),
        "raw_copy_rows": rows,
        "raw_copy_rows_per_second": round(rows / copy_seconds) if copy_seconds else None,
    }


def _server(dsn: str) -> str:
    """Where the comparison ran, without credentials."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}"


def postgres_note(result: dict) -> str:
    if result["ratio"] is None:
        return f"PostgreSQL comparison skipped: no server at {result['server']} ({result['unavailable']})."
    return (
        f"The same dbt build takes {result['dbt_build_postgres_seconds']} s on PostgreSQL ({result['server']}) "
        f"and {result['dbt_build_duckdb_seconds']} s on DuckDB: ratio {result['ratio']}. Copying the raw layer "
        f"({result['raw_copy_rows']} rows, COPY) took {result['raw_copy_seconds']} s more."
    )


def verdicts(measured: dict) -> dict[str, dict]:
    full = measured["full_build"]
    pairs = {
        "full_build_seconds": full["seconds"],
        "full_build_peak_rss_gib": full["peak_rss_gib"],
        "incremental_share_of_full": measured.get("incremental_build", {}).get("share_of_full"),
        "ingest_rows_per_second_per_core": measured["ingest"]["rows_per_second_per_core"],
        "chart_query_p95_ms": measured.get("chart_queries", {}).get("p95_ms"),
    }
    higher_is_better = {"ingest_rows_per_second_per_core"}
    result = {}
    for name, value in pairs.items():
        target = TARGETS[name]
        met = None if value is None else (value >= target if name in higher_is_better else value <= target)
        result[name] = {"measured": value, "target": target, "met": met}
    return result


def write_report(bench_dir: Path, report: dict) -> None:
    bench_dir.mkdir(parents=True, exist_ok=True)
    (bench_dir / "report.json").write_text(json.dumps(report, indent=2))
    m = report["machine"]
    lines = [
        f"# MMR benchmark — scale `{report['scale']}`",
        "",
        f"Machine: {m['cpus']} cores, {m['memory_gib']} GiB, {m['platform']}, Python {m['python']}.",
        "",
        "| measure | measured | target | met |",
        "|---|---|---|---|",
    ]
    for name, verdict in report["verdicts"].items():
        met = {True: "yes", False: "no", None: "—"}[verdict["met"]]
        lines.append(f"| {name} | {verdict['measured']} | {verdict['target']} | {met} |")
    full = report["measured"]["full_build"]
    ingest = report["measured"]["ingest"]
    lines += ["", f"Generation: {report['measured']['generation_seconds']} s.", ""]
    lines += [
        f"Ingestion: {ingest['rows']:,} rows, {ingest.get('rows_per_second')} rows/s over the ingest steps, "
        f"{ingest.get('rows_per_second_per_core')} rows per CPU-second ({ingest.get('cpu_seconds')} s CPU).",
        "",
        "Full build per stage (s):",
        "",
    ]
    lines += [f"- {stage}: {seconds}" for stage, seconds in full["stages_seconds"].items()]
    lines += ["", *[f"Note: {note}" for note in report["notes"]], ""]
    (bench_dir / "report.md").write_text("\n".join(lines))


def _require(measured: Measured, what: str) -> None:
    if measured.returncode != 0:
        raise RuntimeError(f"{what} failed ({measured.returncode}):\n{measured.stdout[-4000:]}")
