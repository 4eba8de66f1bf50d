"""The digest that proves two builds publish the same figures: blind to row order, to when a row was
built and to the last bits of a double, and sensitive to every figure."""

from pathlib import Path

import pandas as pd
import pytest

from dagster_project.ops.published_digest import differences, published_digest, table_digest
from tests.conftest import mmr


def frame(**changes) -> pd.DataFrame:
    columns = {
        "wijk_code": ["WK048901", "WK048902", "WK048903"],
        "clienten": pd.array([10, None, 25], dtype="Int64"),
        "per_1000": [12.5, None, 0.1 + 0.2],
        "onderdrukt": [False, True, False],
        "published_at": pd.to_datetime(["2026-12-01", "2026-12-01", "2026-12-01"]),
    }
    return pd.DataFrame({**columns, **changes})


def test_the_same_figures_in_another_order_and_run_have_one_digest() -> None:
    shuffled = frame(published_at=pd.to_datetime(["2026-12-04"] * 3)).iloc[[2, 0, 1]]
    shuffled = shuffled.assign(per_1000=[0.3, 12.5, None])
    assert table_digest(shuffled) == table_digest(frame())


def test_every_figure_counts() -> None:
    before = published_digest({"benchmark": frame(), "wijk_kerncijfers": frame()})
    for changed in (
        frame(clienten=pd.array([10, 5, 25], dtype="Int64")),
        frame(per_1000=[12.5, None, 0.3001]),
        frame(onderdrukt=[False, False, False]),
        frame(wijk_code=["WK048901", "WK048902", "WK048904"]),
    ):
        after = published_digest({"benchmark": frame(), "wijk_kerncijfers": changed})
        assert differences(before, after) == ["wijk_kerncijfers: 3 rows before, 3 after, other figures"]
    fewer = published_digest({"benchmark": frame().iloc[:2]})
    assert differences(before, fewer) == [
        "benchmark: 3 rows before, 2 after",
        "wijk_kerncijfers: 3 rows before, absent after",
    ]
    assert differences(before, before) == []


RECORD = Path(__file__).parent / "fixtures" / "published_demo_digest.json"


@pytest.mark.e2e
def test_the_demo_publishes_the_figures_of_record(demo_home: Path) -> None:
    """Work on speed leaves every published figure as it was: the demo's publish has the digest on
    record. A change meant to alter figures records the new digest in the same commit
    (`mmr digest --save tests/fixtures/published_demo_digest.json` in a demo home) and says why."""
    result = mmr(demo_home, "digest", "--compare", str(RECORD), check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Identical" in result.stdout
