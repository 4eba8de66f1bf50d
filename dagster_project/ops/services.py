"""Background services of the one-machine mode: Dagster webserver, Dagster daemon and Superset,
started, found and stopped by one process manager (pid files under `var/run/`, logs under `var/logs/`)."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests
from rich.console import Console

from dagster_project.settings import PROJECT_ROOT, get_settings

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now, for a private server (a bench's or a test's
    Superset), so that it never meets the one a user runs on the configured port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pid_file(name: str) -> Path:
    return get_settings().run_dir / f"{name}.pid"


def running_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in `pid_file` if that process still runs and is ours (`marker` in its command
    line: a reused pid is not); a stale file is removed."""
    if not pid_file.exists():
        return None
    try:
        pid = int(pid_file.read_text().strip())
        process = psutil.Process(pid)
        alive = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        ours = any(marker in part for part in process.cmdline())
    except (ValueError, psutil.Error):
        alive = ours = False
    if alive and ours:
        return pid
    pid_file.unlink(missing_ok=True)
    return None


def start_process(pid_file: Path, log_file: Path, command: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Start a detached process in its own session (so its group is exactly its own processes),
    its output appended to `log_file`, its pid in `pid_file`."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    pid_file.write_text(str(process.pid))
    return process.pid


def stop_process(pid_file: Path, marker: str, timeout: float = 20) -> bool:
    """Stop the process group started with `start_process`: TERM, then KILL after `timeout`.
    False when it was not running."""
    pid = running_pid(pid_file, marker)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and psutil.pid_exists(pid):
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True


def _start_dagster_process(name: str, command: list[str], env: dict[str, str]) -> int:
    """A Dagster process of the one-machine mode, once only."""
    if pid := running_pid(_pid_file(name), name):
        return pid
    settings = get_settings()
    settings.ensure_dirs()
    return start_process(
        _pid_file(name), settings.log_dir / f"{name}.log", command, PROJECT_ROOT, {**os.environ, **env}
    )


def wait_for_http(url: str, timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=3).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(1)
    return False


def dagster_url() -> str:
    return f"http://127.0.0.1:{get_settings().dagster_port}"


def start_dagster() -> str:
    settings = get_settings()
    env = {"DAGSTER_HOME": str(settings.dagster_home)}
    module = ["-m", "dagster_project.definitions"]
    _start_dagster_process(
        "dagster-webserver",
        [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(settings.dagster_port), *module],
        env,
    )
    _start_dagster_process("dagster-daemon", [str(BIN / "dagster-daemon"), "run", *module], env)
    url = dagster_url()
    if not wait_for_http(f"{url}/server_info"):
        raise RuntimeError(f"Dagster did not answer on {url}; see {settings.log_dir / 'dagster-webserver.log'}")
    return url


def start_all(console: Console) -> None:
    from dagster_project.ops import superset

    settings = get_settings()
    with console.status("Starting Dagster (webserver + daemon)"):
        dagster = start_dagster()
    with console.status("Preparing and starting Superset"):
        superset.bootstrap()
        superset_url = superset.start()
    console.print(f"Dagster   [bold]{dagster}[/]")
    console.print(f"Superset  [bold]{superset_url}[/]   login: admin / {superset.admin_password()}")
    console.print(f"Logs in {settings.log_dir}. Stop everything with [bold]make stop[/] (or `mmr stop`).")


def stop_all(console: Console) -> None:
    from dagster_project.ops import superset

    superset.stop()
    for name in ("dagster-daemon", "dagster-webserver"):
        if stop_process(_pid_file(name), name):
            console.print(f"stopped {name}")
    console.print("stopped superset")
