"""Background services of the one-machine mode: Dagster webserver, Dagster daemon and Superset."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from rich.console import Console

from dagster_project.settings import PROJECT_ROOT, get_settings

BIN = Path(sys.executable).parent


def _pid_file(name: str) -> Path:
    return get_settings().run_dir / f"{name}.pid"


def running_pid(name: str) -> int | None:
    path = _pid_file(name)
    if not path.exists():
        return None
    pid = int(path.read_text().strip())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return None
    return pid


def start_process(name: str, command: list[str], env: dict[str, str] | None = None) -> int:
    """Start a detached process (its own session) with its log under var/logs; once only."""
    if pid := running_pid(name):
        return pid
    settings = get_settings()
    settings.ensure_dirs()
    log = (settings.log_dir / f"{name}.log").open("ab")
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    _pid_file(name).write_text(str(process.pid))
    return process.pid


def stop_process(name: str, timeout: float = 20) -> bool:
    pid = running_pid(name)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    _pid_file(name).unlink(missing_ok=True)
    return True


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
    start_process(
        "dagster-webserver",
        [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(settings.dagster_port), *module],
        env,
    )
    start_process("dagster-daemon", [str(BIN / "dagster-daemon"), "run", *module], env)
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
        if stop_process(name):
            console.print(f"stopped {name}")
    console.print("stopped superset")
