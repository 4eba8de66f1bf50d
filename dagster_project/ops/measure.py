"""A command run as a user runs it, with its wall time and the peak memory of its whole process
tree: the Dagster run, dbt, DuckDB and whatever they start count together."""

import subprocess
import threading
import time
from dataclasses import dataclass, field

import psutil

from dagster_project.settings import PROJECT_ROOT

#: Processes smaller than this at the peak are not named in `peak_by_process`.
NAMED_ABOVE = 64 << 20


@dataclass
class Measured:
    seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str = field(repr=False, default="")
    #: at the moment the tree's memory peaked: each larger process (its command, shortened) and its RSS in GiB
    peak_by_process: list[tuple[str, float]] = field(default_factory=list)


def _label(process: psutil.Process) -> str:
    words = [word.rsplit("/", 1)[-1] for word in process.cmdline()[:4]]
    return " ".join(words)[:80]


def measure(command: list[str], env: dict[str, str], timeout: float = 6 * 3600) -> Measured:
    """Run a command; sample the summed RSS of its whole process tree while it runs."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak, at_peak = 0, []
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, at_peak
        root = psutil.Process(process.pid)
        while not done.is_set():
            try:
                sizes = [(p, p.memory_info().rss) for p in [root, *root.children(recursive=True)] if p.is_running()]
                total = sum(rss for _, rss in sizes)
                if total > peak:
                    peak = total
                    at_peak = [(_label(p), round(rss / 2**30, 2)) for p, rss in sizes if rss >= NAMED_ABOVE]
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate(timeout=timeout)
    done.set()
    sampler.join()
    ranked = sorted(at_peak, key=lambda item: -item[1])
    return Measured(time.perf_counter() - started, peak, process.returncode, stdout, ranked)


def require(measured: Measured, what: str) -> None:
    """Stop with what the command printed last when it failed."""
    if measured.returncode != 0:
        raise RuntimeError(f"{what} failed ({measured.returncode}):\n{measured.stdout[-4000:]}")
