"""`mmr bench`: what users feel at the scale of the whole country, measured on this machine.

The benchmark runs the real product in its own home (`var/bench/home`): it lands the generated
deliveries, holds back the last month of every municipal source, runs the full pipeline from
landed files to published (per stage, with the peak memory of the whole process tree), lands the
held-back month and runs again (the incremental build), then starts Superset on the published
database, on a free port beside any Superset the user runs, and times every chart query of every
dashboard as the dashboard sends it when it opens (on its default filters) and with every filter
cleared.

The deliveries of a scale and seed are generated once into `var/bench/generated/<scale>-seed<seed>/`
(with the generator's truth and `generation.json`: when, how long, how big) and hard-linked into
the home's landing folder on every run (copied where links are not possible); they are generated
again when the generator's code changed or with `--regenerate`. Nationally that saves a quarter
of an hour per run.
"""

import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from dagster_project.ops.bench_postgres import SLICE_EVERY, postgres_note, postgres_ratio
from dagster_project.ops.machine import commit, machine
from dagster_project.ops.measure import measure, require
from dagster_project.ops.published_digest import published_digest
from dagster_project.ops.run_timings import ingest_metadata, slowest_assets, stage_seconds
from dagster_project.ops.scan_anchor import scan_landing
from dagster_project.ops.services import free_port
from dagster_project.settings import PROJECT_ROOT, Settings

MONTHLY_FILE = re.compile(r"_(\d{4}-\d{2})\.csv$")
TARGETS = {
    "full_build_seconds": 600,
    "full_build_ratio_to_scan": 2.5,
    "ingest_ratio_to_scan": 1.5,
    "full_build_peak_rss_gib": 4,
    "incremental_share_of_full": 0.05,
    "chart_query_p95_ms": 300,
    "disclosure_attack_findings": 0,
}


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


def ingested_rows(build_db: Path, run_started: float) -> int:
    import duckdb

    with duckdb.connect(str(build_db), read_only=True) as con:
        return int(
            con.execute(
                "select coalesce(sum(rows_read), 0) from raw.ingestion_log where epoch(ingested_at) >= ?",
                [run_started - 1],
            ).fetchone()[0]
        )


def chart_latencies(settings: Settings, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Every chart of every dashboard through Superset's chart data API (no cache), twice: as the
    dashboard opens (its default filters: the first gemeente, the latest year) and with every filter
    cleared (every gemeente and year the user may see, the most a chart is asked for)."""
    from dagster_project.ops import superset

    superset.bootstrap(settings, echo=False)
    superset.start(settings)
    try:
        client = superset.SupersetClient(superset.url(settings), superset.admin_password(settings))
        timings: dict[str, dict[str, list[float]]] = {"opening": {}, "unfiltered": {}}
        for dashboard, chart, chart_id, opening in client.opening_queries():
            for kind, context in (("opening", opening), ("unfiltered", client.query_context(chart_id))):
                for _ in range(repeats):
                    started = time.perf_counter()
                    client.chart_data(chart_id, context)
                    elapsed = (time.perf_counter() - started) * 1000
                    timings[kind].setdefault(f"{dashboard} / {chart}", []).append(elapsed)
        return timings
    finally:
        superset.stop(settings)


def latency_summary(timings: dict[str, list[float]]) -> dict:
    every = [t for values in timings.values() for t in values]
    per_chart = {name: round(percentile(values, 0.95), 1) for name, values in timings.items()}
    return {
        "charts": len(timings),
        "queries": len(every),
        "p50_ms": round(statistics.median(every), 1),
        "p95_ms": round(percentile(every, 0.95), 1),
        "per_chart_p95_ms": dict(sorted(per_chart.items(), key=lambda item: -item[1])),
    }


def attack_published(home: Path) -> dict:
    """Every disclosure attack on the published build: what each recovered (nothing, it should)."""
    from dagster_project.ops import disclosure_attacks

    started = time.perf_counter()
    surface = disclosure_attacks.published_surface(Settings(home=home))
    findings = disclosure_attacks.run_all(surface)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "published_rows": sum(len(frame) for frame in surface.values()),
        "findings": {name: len(found) for name, found in findings.items()},
        "examples": [str(found[0]) for found in findings.values() if found],
        # compare with another build's report (or `mmr digest --save`): the figures, table by table
        "published_digest": published_digest(surface),
    }


def digest_published(home: Path) -> dict:
    """Rows and a hash of the figures of every published table (`mmr digest`)."""
    from dagster_project.ops import disclosure_attacks

    return published_digest(disclosure_attacks.published_surface(Settings(home=home)))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


GENERATOR_DIR = PROJECT_ROOT / "dagster_project" / "synthetic"
#: The generator run in a child process, so its peak memory is measured like every other stage.
GENERATE = (
    "import json, sys; from dagster_project.synthetic import generate; "
    "rows = generate(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], progress=False); "
    "print(json.dumps(rows))"
)


def generator_fingerprint() -> str:
    """A hash of the generator's code: deliveries generated by other code are not reused."""
    digest = hashlib.sha256()
    for path in sorted(GENERATOR_DIR.rglob("*.py")):
        digest.update(path.relative_to(GENERATOR_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def generated(
    bench_dir: Path, scale: str, seed: int, regenerate: bool, env: dict[str, str], console: Console
) -> tuple[Path, dict]:
    """The folder with the deliveries of `scale` and `seed` (`landing/`, `generator/truth.json`,
    `generation.json`), generated now if there is none from the current generator (or if asked)."""
    store = bench_dir / "generated" / f"{scale}-seed{seed}"
    record = store / "generation.json"
    fingerprint = generator_fingerprint()
    if record.exists() and not regenerate:
        meta = json.loads(record.read_text())
        if meta.get("generator") == fingerprint and (store / "landing").is_dir():
            return store, {**meta, "reused": True}
    partial = store.with_name(store.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with console.status(f"Generating the {scale} deliveries (once, into {store})"):
        run = measure(
            [
                sys.executable,
                "-c",
                GENERATE,
                scale,
                str(seed),
                str(partial / "landing"),
                str(partial / "generator" / "truth.json"),
            ],
            env,
        )
    require(run, "generate")
    files = [p for p in (partial / "landing").rglob("*") if p.is_file()]
    meta = {
        "scale": scale,
        "seed": seed,
        "generator": fingerprint,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(run.seconds, 2),
        "peak_rss_gib": round(run.peak_rss_bytes / 2**30, 3),
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "rows": json.loads(run.stdout.strip().splitlines()[-1]),
        "machine": machine(),
    }
    (partial / "generation.json").write_text(json.dumps(meta, indent=2))
    shutil.rmtree(store, ignore_errors=True)
    partial.rename(store)
    return store, {**meta, "reused": False}


def place(store: Path, home: Path) -> int:
    """Put the generated deliveries into a home: landing files hard-linked (copied where a link
    cannot be made), the generator's truth copied. Returns the number of files landed."""
    landed = 0
    for source in sorted(p for p in (store / "landing").iterdir() if p.is_dir()):
        target = home / "landing" / source.name
        target.mkdir(parents=True, exist_ok=True)
        for path in source.iterdir():
            try:
                os.link(path, target / path.name)
            except OSError:
                shutil.copy2(path, target / path.name)
            landed += 1
    truth = store / "generator" / "truth.json"
    if truth.exists():
        (home / "generator").mkdir(parents=True, exist_ok=True)
        shutil.copy2(truth, home / "generator" / "truth.json")
    return landed


def run_benchmark(
    settings: Settings,
    scale: str,
    seed: int,
    charts: bool,
    repeats: int,
    console: Console,
    regenerate: bool = False,
    postgres_scale: str | None = None,
) -> dict:
    bench_dir = settings.home / "bench"
    home = bench_dir / "home"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "MMR_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    mmr = [sys.executable, "-m", "dagster_project.cli"]
    report: dict = {
        "scale": scale,
        "seed": seed,
        "commit": commit(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "targets": TARGETS,
        "measured": {},
    }
    measured = report["measured"]

    store, generation = generated(bench_dir, scale, seed, regenerate, env, console)
    started = time.perf_counter()
    files = place(store, home)
    measured["generation_seconds"] = generation["seconds"]
    measured["generation"] = {
        **{k: generation[k] for k in ("seconds", "generated_at", "reused", "files", "bytes", "peak_rss_gib")},
        "rows": sum(v for v in generation["rows"].values() if isinstance(v, int)),
        "folder": str(store),
        "landed_files": files,
        "landing_seconds": round(time.perf_counter() - started, 2),
    }
    landing, holding = home / "landing", bench_dir / "held_back"
    shutil.rmtree(holding, ignore_errors=True)
    held_month = hold_back_last_month(landing, holding)
    with console.status("Reading the landed files once, then one DuckDB scan of them (the anchor of the ratios)"):
        measured["scan"] = scan_landing(landing)
    save(bench_dir, report)

    try:
        _measure_stages(report, settings, home, env, mmr, held_month, charts, repeats, postgres_scale, console)
    except Exception as exc:
        report["failed"] = str(exc)[:4000]
        save(bench_dir, report)
        raise
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    report["machine_after"] = {"load_average": [round(x, 2) for x in os.getloadavg()]}
    save(bench_dir, report, complete=True)
    return report


def _measure_stages(
    report: dict,
    settings: Settings,
    home: Path,
    env: dict[str, str],
    mmr: list[str],
    held_month: str | None,
    charts: bool,
    repeats: int,
    postgres_scale: str | None,
    console: Console,
) -> None:
    """Full build, incremental build, chart queries, PostgreSQL ratio; the report is saved after each."""
    bench_dir, measured = home.parent, report["measured"]
    with console.status("Full build: ingest → dbt → audit → publish"):
        started = time.time()
        full = measure([*mmr, "run", "--no-demo"], env)
    stages, run_id = stage_seconds(home / "dagster")
    measured["full_build"] = {
        "seconds": round(full.seconds, 2),
        "peak_rss_gib": round(full.peak_rss_bytes / 2**30, 3),
        "peak_rss_by_process_gib": full.peak_by_process,
        "stages_seconds": {k: round(v, 2) for k, v in sorted(stages.items())},
        "slowest_seconds": slowest_assets(home / "dagster", run_id) if run_id else {},
        "dagster_run_id": run_id,
    }
    if full.returncode != 0:
        measured["full_build"]["failed"] = True
    require(full, "full build")
    rows = ingested_rows(home / "warehouse" / "build.duckdb", started)
    spent = ingest_metadata(home / "dagster", run_id)
    measured["ingest"] = {
        "rows": rows,
        "rows_per_second": round(rows / stages["ingest"]) if stages.get("ingest") else None,
        "ingest_seconds": round(spent["seconds"], 2),
        "cpu_seconds": round(spent["cpu_seconds"], 2),
        # Per core: rows over the CPU time of every thread ingestion ran (Arrow and DuckDB use all cores).
        "rows_per_second_per_core": round(rows / spent["cpu_seconds"]) if spent["cpu_seconds"] else None,
    }
    save(bench_dir, report)
    with console.status("Disclosure attacks on everything published"):
        measured["disclosure_attacks"] = attack_published(home)
    save(bench_dir, report)

    if held_month:
        land(bench_dir / "held_back", home / "landing")
        with console.status(f"Incremental build of {held_month}"):
            incremental = measure([*mmr, "run", "--no-demo"], env)
        require(incremental, "incremental build")
        stages, run_id = stage_seconds(home / "dagster")
        measured["incremental_build"] = {
            "month": held_month,
            "seconds": round(incremental.seconds, 2),
            "share_of_full": round(incremental.seconds / full.seconds, 3),
            "stages_seconds": {k: round(v, 2) for k, v in sorted(stages.items())},
            "slowest_seconds": slowest_assets(home / "dagster", run_id) if run_id else {},
            "peak_rss_gib": round(incremental.peak_rss_bytes / 2**30, 3),
            "peak_rss_by_process_gib": incremental.peak_by_process,
            # what two benches of different code should agree on: the figures with the new month in
            "published_digest": digest_published(home),
        }
        save(bench_dir, report)

    if charts:
        with console.status("Chart queries through Superset"):
            timings = chart_latencies(Settings(home=home, superset_port=free_port()), repeats)
        measured["chart_queries"] = {
            **latency_summary(timings["opening"]),
            "unfiltered": latency_summary(timings["unfiltered"]),
        }
        save(bench_dir, report)

    ratio_scale = postgres_scale or report["scale"]
    every = SLICE_EVERY if ratio_scale == "national" else 1
    with console.status(f"The same dbt build on PostgreSQL ({ratio_scale} scale)"):
        build_db = home / "warehouse" / "build.duckdb"
        if ratio_scale != report["scale"]:
            build_db = built_elsewhere(bench_dir, ratio_scale, report["seed"], mmr, console)
        measured["postgres_ratio"] = {"scale": ratio_scale, **postgres_ratio(build_db, settings, bench_dir, every)}
    report["notes"] = [postgres_note(measured["postgres_ratio"])]


def save(bench_dir: Path, report: dict, complete: bool = False) -> None:
    """Write the report as far as it got: a national run takes long, and a stage may fail."""
    report["complete"] = complete
    report["verdicts"] = verdicts(report["measured"])
    write_report(bench_dir, report)


def built_elsewhere(bench_dir: Path, scale: str, seed: int, mmr: list[str], console: Console) -> Path:
    """The build warehouse of a full run at another scale (for the PostgreSQL comparison), in a
    home of its own under the bench folder."""
    home = bench_dir / f"home_{scale}"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "MMR_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    store, _ = generated(bench_dir, scale, seed, False, env, console)
    place(store, home)
    require(measure([*mmr, "run", "--no-demo"], env), f"full build at {scale} scale")
    return home / "warehouse" / "build.duckdb"


def verdicts(measured: dict) -> dict[str, dict]:
    """Every target against what was measured (lower is better for each); `met` is None when the
    stage did not run."""
    full = measured.get("full_build", {})
    scan = measured.get("scan", {}).get("seconds")
    ingest = measured.get("ingest", {}).get("ingest_seconds")
    pairs = {
        "full_build_seconds": full.get("seconds"),
        "full_build_ratio_to_scan": round(full["seconds"] / scan, 2) if scan and full.get("seconds") else None,
        "ingest_ratio_to_scan": round(ingest / scan, 2) if scan and ingest else None,
        "full_build_peak_rss_gib": full.get("peak_rss_gib"),
        "incremental_share_of_full": measured.get("incremental_build", {}).get("share_of_full"),
        "chart_query_p95_ms": measured.get("chart_queries", {}).get("p95_ms"),
        "disclosure_attack_findings": (
            sum(measured["disclosure_attacks"]["findings"].values()) if "disclosure_attacks" in measured else None
        ),
    }
    return {
        name: {"measured": value, "target": TARGETS[name], "met": None if value is None else value <= TARGETS[name]}
        for name, value in pairs.items()
    }


def write_report(bench_dir: Path, report: dict) -> None:
    bench_dir.mkdir(parents=True, exist_ok=True)
    (bench_dir / "report.json").write_text(json.dumps(report, indent=2))
    m, measured = report["machine"], report["measured"]
    state = "" if report.get("complete") else " (incomplete: the stages below are those that finished)"
    lines = [
        f"# MMR benchmark — scale `{report['scale']}`{state}",
        "",
        f"Machine: {m['cpus']} cores, {m['memory_gib']} GiB, {m['processor']}, {m['platform']}, "
        f"Python {m['python']}; load average {m.get('load_average')} at the start. "
        f"Code at commit {report.get('commit')}, started {report.get('started_at')}.",
        "",
        "| measure | measured | target | met |",
        "|---|---|---|---|",
    ]
    for name, verdict in report["verdicts"].items():
        met = {True: "yes", False: "no", None: "—"}[verdict["met"]]
        lines.append(f"| {name} | {verdict['measured']} | {verdict['target']} | {met} |")
    generation = measured.get("generation", {})
    lines += [
        "",
        f"Generation: {measured.get('generation_seconds')} s for {generation.get('rows', 0):,} rows in "
        f"{generation.get('files', 0):,} files ({generation.get('bytes', 0) / 2**30:.1f} GiB), generated "
        f"{generation.get('generated_at')}{' and reused' if generation.get('reused') else ''}; landed in "
        f"{generation.get('landing_seconds')} s.",
        "",
    ]
    if "scan" in measured:
        scan = measured["scan"]
        lines += [
            f"Anchor: one DuckDB scan ({scan['threads']} threads, every column as text, distinct BSNs) of the "
            f"{scan['files']:,} landed files the full build reads, {scan['rows']:,} rows: {scan['seconds']} s, "
            f"after reading every landed file once into memory ({scan['warmed']['seconds']} s for "
            f"{scan['warmed']['bytes'] / 2**30:.1f} GiB), as ingestion finds them after it.",
            "",
        ]
    if "ingest" in measured:
        ingest = measured["ingest"]
        lines += [
            f"Ingestion: {ingest['rows']:,} rows, {ingest.get('rows_per_second')} rows/s over the ingest steps, "
            f"{ingest.get('rows_per_second_per_core')} rows per CPU-second ({ingest.get('cpu_seconds')} s CPU).",
            "",
        ]
    if "disclosure_attacks" in measured:
        attacks = measured["disclosure_attacks"]
        found = ", ".join(f"{name} {count}" for name, count in attacks["findings"].items())
        lines += [f"Disclosure attacks on {attacks['published_rows']:,} published rows: {found}.", ""]
        tables = attacks.get("published_digest", {})
        lines += [f"Digest of the {len(tables)} published tables: {_digest_line(tables)}.", ""]
    if "published_digest" in measured.get("incremental_build", {}):
        tables = measured["incremental_build"]["published_digest"]
        lines += [f"Digest after the new month: {_digest_line(tables)}.", ""]
    for build, title in (("full_build", "Full build"), ("incremental_build", "One new month")):
        if build not in measured:
            continue
        stages, slowest = measured[build].get("stages_seconds", {}), measured[build].get("slowest_seconds", {})
        lines += [
            f"{title} per stage (s): " + ", ".join(f"{stage} {seconds}" for stage, seconds in stages.items()) + ".",
            "",
            f"{title}, slowest (s): " + ", ".join(f"{name} {seconds}" for name, seconds in slowest.items()) + ".",
            "",
        ]
    if "chart_queries" in measured:
        charts, unfiltered = measured["chart_queries"], measured["chart_queries"]["unfiltered"]
        lines += [
            f"Chart queries ({charts['charts']} charts, {charts['queries']} queries) as each dashboard opens, "
            f"on its default filters: p50 {charts['p50_ms']} ms, p95 {charts['p95_ms']} ms; slowest: "
            + _slowest(charts)
            + f". With every filter cleared: p50 {unfiltered['p50_ms']} ms, p95 {unfiltered['p95_ms']} ms; "
            f"slowest: {_slowest(unfiltered)}.",
            "",
        ]
    if "full_build" in measured:
        named = measured["full_build"].get("peak_rss_by_process_gib", [])
        at_peak = ", ".join(f"{name} {gib} GiB" for name, gib in named)
        lines += [f"At the full build's memory peak: {at_peak or 'no process above 64 MiB'}.", ""]
    if report.get("failed"):
        lines += ["Failed:", "", "```", report["failed"][-2000:], "```", ""]
    lines += [*[f"Note: {note}" for note in report.get("notes", [])], ""]
    (bench_dir / "report.md").write_text("\n".join(lines))


def _digest_line(tables: dict) -> str:
    whole = hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()[:16]
    return f"{whole} (per table in report.json)"


def _slowest(summary: dict, count: int = 3) -> str:
    return ", ".join(f"{name} {ms} ms" for name, ms in list(summary["per_chart_p95_ms"].items())[:count])
