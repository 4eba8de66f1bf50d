"""Shared fixtures. End-to-end tests share ONE demo pipeline run (session scope)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# One Superset server per test session, shared by the Superset API and browser tests.
pytest_plugins = ["tests.superset_fixtures"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
KWB_FIXTURE = FIXTURES / "cbs_kwb" / "kwb_2022.csv"


def mmr(home: Path, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the real `mmr` CLI against an MMR_HOME, as a user would."""
    env = {**os.environ, "MMR_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "dagster_project.cli", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"mmr {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo region generated and the whole pipeline run once, exactly as `make run` does.

    `MMR_TEST_DEMO_HOME` names a home that already ran, to iterate on read-only tests quickly.
    """
    reuse = os.environ.get("MMR_TEST_DEMO_HOME")
    if reuse:
        return Path(reuse)
    home = tmp_path_factory.mktemp("mmr_home")
    mmr(home, "run")
    return home


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
