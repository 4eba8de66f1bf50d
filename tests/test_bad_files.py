"""The bad-file corpus of issue 5: every way a delivery goes wrong, its outcome and its message.

One table, one row per bad file: what is delivered (an edit of a clean demo delivery), the
expected status, how many rows are rejected, the rules named and a message fragment. Every case
first ingests a clean delivery of the same source, then the bad one; whatever happens, the rows
accepted before stay in the raw table (a whole-file rejection is delivered under the same name
and period, a row-level one for the next period; only the corrected re-delivery replaces them).

Rule for extra columns: accepted, the extra column is ignored (not stored) and a warning names
the file and the column. A missing or renamed column rejects the whole file.
"""

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from dagster_project import ingest
from dagster_project.lib import warehouse
from dagster_project.settings import Settings
from dagster_project.sources import budgetten, cbs_kwb, gemeente_jeugd, vektis_zvw
from tests.conftest import KWB_FIXTURE

JEUGD = gemeente_jeugd.COLUMNS
JEUGD_BASE = "jeugd_GM0489_2022-01.csv"
JEUGD_NEXT = "jeugd_GM0489_2022-02.csv"
VEKTIS_BASE = "vektis_zvw_gemeente_2022.csv"
KWB_BASE = "kwb_2019.csv"


def clean(demo: Path, source: str, name: str) -> str:
    path = KWB_FIXTURE if source == "cbs_kwb" else demo / source / name
    return path.read_text(encoding="utf-8")


# --- edits of a clean delivery ---------------------------------------------------------------------


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def joined(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def set_field(line: str, columns: list[str], name: str, value: str) -> str:
    values = line.split(";")
    values[columns.index(name)] = value
    return ";".join(values)


def get_field(line: str, columns: list[str], name: str) -> str:
    return line.split(";")[columns.index(name)]


def first_row(lines: list[str], columns: list[str], predicate: Callable[[Callable[[str], str]], bool]) -> int:
    """Index in `lines` of the first data line the predicate accepts (file row = index + 1)."""
    return next(
        i for i in range(1, len(lines)) if predicate(lambda name, line=lines[i]: get_field(line, columns, name))
    )


def edit_jeugd(name: str, value: str, where=lambda f: True, at: list[int] | None = None) -> Callable:
    """Set one field of the first Jeugd row matching `where`; reports the row it edited in `at`."""

    def edit(text: str) -> str:
        lines = lines_of(text)
        i = first_row(lines, JEUGD, where)
        lines[i] = set_field(lines[i], JEUGD, name, value)
        if at is not None:
            at.append(i + 1)
        return joined(lines)

    return edit


def broken_bsn(text: str) -> str:
    lines = lines_of(text)
    bsn = get_field(lines[2], JEUGD, "bsn")
    lines[2] = set_field(lines[2], JEUGD, "bsn", bsn[:-1] + str((int(bsn[-1]) + 1) % 10))
    return joined(lines)


def rename_header(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        header, rest = text.split("\n", 1)
        return header.replace(old, new, 1) + "\n" + rest

    return edit


def drop_column(name: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        frame = pd.read_csv(io.StringIO(text), sep=";", dtype=str, keep_default_na=False)
        return frame.drop(columns=[name]).to_csv(sep=";", index=False, lineterminator="\n")

    return edit


def add_column(text: str) -> str:
    lines = lines_of(text)
    return joined([lines[0] + ";opmerking"] + [line + ";zie dossier" for line in lines[1:]])


def duplicate_line(index: int) -> Callable[[str], str]:
    def edit(text: str) -> str:
        lines = lines_of(text)
        return joined(lines + [lines[index]])

    return edit


def kwb_line(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new)


def kwb_codes_of(gemeente: str) -> Callable[[str], str]:
    """Every area code of the delivered gemeente (GM0518, its wijken and buurten) moved to another."""
    return lambda text: re.sub(r'"(GM|WK|BU)0518', rf'"\g<1>{gemeente}', text)


def corrected(text: str) -> str:
    """The same month again without its last three rows and with one amount corrected."""
    lines = lines_of(text)[:-3]
    lines[1] = set_field(lines[1], JEUGD, "bedrag", "1234,56")
    return joined(lines)


def vektis_row(name: str, value: str, row: int = 1) -> Callable[[str], str]:
    def edit(text: str) -> str:
        lines = lines_of(text)
        columns = lines[0].split(";")
        lines[row] = set_field(lines[row], columns, name, value)
        return joined(lines)

    return edit


def merged_away_in_2023(text: str) -> str:
    """A 2023 file of Barendrecht in which one row names Brielle, merged into Voorne aan Zee in 2023."""
    lines = lines_of(text)[:1] + [line for line in lines_of(text)[1:] if ";BARENDRECHT;" in line]
    lines[1] = lines[1].replace(";BARENDRECHT;", ";BRIELLE;")
    return joined(lines)


# --- the corpus ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    source: str
    edit: Callable[[str], str | bytes]
    status: str  # rejected (whole file) | accepted (good rows, the rest quarantined) | unchanged
    rejected: int = 0  # rows quarantined
    rules: frozenset[str] = frozenset()  # rules named in reasons.csv
    fragment: str = ""  # in every message
    row: int | None = None  # the file row the message names
    name: str | None = None  # delivered under this name (default: the next period, or the base name)


SPEC = {
    "gemeente_jeugd": gemeente_jeugd.SPEC,
    "cbs_kwb": cbs_kwb.SPEC,
    "vektis_zvw": vektis_zvw.GEMEENTE_SPEC,
    "budgetten": budgetten.SPEC,
}
BASE = {"gemeente_jeugd": JEUGD_BASE, "cbs_kwb": KWB_BASE, "vektis_zvw": VEKTIS_BASE, "budgetten": "budgetten_2022.csv"}
RUNNING = lambda f: f("einddatum") == ""  # noqa: E731
STARTED_BEFORE_2021 = lambda f: f("einddatum") == "" and f("startdatum")[-4:] < "2021"  # noqa: E731

CASES = {
    # whole files that cannot be read: quarantined whole with one message, earlier data intact
    "wrong-delimiter": Case("gemeente_jeugd", lambda t: t.replace(";", ","), "rejected", fragment="expected ';'"),
    "latin-1-not-utf-8": Case(
        "gemeente_jeugd",
        lambda t: t.replace("Jeugdhulp", "Jeugdhülp").encode("latin-1"),
        "rejected",
        fragment="not UTF-8",
    ),
    # Vektis publishes in Windows-1252 as well: the file is read, and the misspelt name is unknown
    "latin-1-vektis": Case(
        "vektis_zvw",
        lambda t: t.replace("BARENDRECHT", "BARENDRÉCHT").encode("latin-1"),
        "accepted",
        38,
        frozenset({"known_ref_gemeenten_naam"}),
        "'BARENDRÉCHT'",
        name="vektis_zvw_gemeente_2021.csv",
    ),
    "missing-column": Case("gemeente_jeugd", drop_column("agb_code"), "rejected", fragment="missing columns agb_code"),
    "renamed-column": Case(
        "gemeente_jeugd", rename_header(";bsn;", ";burgerservicenummer;"), "rejected", fragment="missing columns bsn"
    ),
    "renamed-column-kwb": Case(
        "cbs_kwb",
        rename_header('"AantalInwoners_5"', '"Inwoners_5"'),
        "rejected",
        fragment="missing columns AantalInwoners",
    ),
    "empty-file": Case("gemeente_jeugd", lambda t: b"", "rejected", fragment="the file is empty"),
    "truncated-file": Case("gemeente_jeugd", lambda t: t[: len(t) // 2], "rejected", fragment="truncated"),
    "header-only": Case("gemeente_jeugd", lambda t: t.split("\n", 1)[0] + "\n", "rejected", fragment="no rows"),
    "misnamed-file": Case(
        "gemeente_jeugd",
        lambda t: t.replace(";2022-01;", ";2022-03;"),
        "rejected",
        fragment="jeugd_<GMcode>_<yyyy-mm>.csv",
        name="jeugd_maart.csv",
    ),
    # extra columns: accepted, ignored, warned about
    "extra-column": Case("gemeente_jeugd", add_column, "accepted"),
    "extra-column-kwb": Case(
        "cbs_kwb",
        lambda t: joined([lines_of(t)[0] + ';"Nieuw_200"'] + [line + ";1" for line in lines_of(t)[1:]]),
        "accepted",
        name="kwb_2021.csv",
    ),
    # row-level rules: the row is quarantined with row, column and rule; the rest is accepted
    "bad-bsn": Case(
        "gemeente_jeugd", broken_bsn, "accepted", 1, frozenset({"bsn_11_proef"}), "column bsn: value <withheld>", 3
    ),
    "bad-product-code": Case(
        "gemeente_jeugd",
        edit_jeugd("productcategorie", "99"),
        "accepted",
        1,
        frozenset({"known_ref_ijw_productcategorie"}),
        "value '99'",
        2,
    ),
    "bad-agb-code": Case(
        "gemeente_jeugd", edit_jeugd("agb_code", "98A07"), "accepted", 1, frozenset({"agb_code"}), "'98A07'", 2
    ),
    "unknown-gemeente": Case(
        "gemeente_jeugd",
        edit_jeugd("gemeentecode", "GM9999"),
        "accepted",
        1,
        frozenset({"known_ref_gemeenten", "matches_file_name"}),
        "GM9999",
        2,
    ),
    "unknown-gemeente-kwb": Case(
        "cbs_kwb",
        kwb_line('"BU05180170"', '"BU99990170"'),
        "accepted",
        1,
        frozenset({"known_ref_gemeenten"}),
        "BU99990170",
        4,
        name="kwb_2021.csv",
    ),
    "unknown-gemeente-vektis": Case(
        "vektis_zvw",
        vektis_row("gemeentenaam", "ATLANTIS"),
        "accepted",
        1,
        frozenset({"known_ref_gemeenten_naam"}),
        "'ATLANTIS'",
        2,
        name="vektis_zvw_gemeente_2021.csv",
    ),
    "gemeente-after-its-merger-kwb": Case(
        "cbs_kwb",
        kwb_codes_of("0501"),
        "accepted",
        159,
        frozenset({"gemeente_valid_in_period"}),
        "GM0501",
        None,
        name="kwb_2023.csv",
    ),
    "gemeente-after-its-merger-vektis": Case(
        "vektis_zvw",
        merged_away_in_2023,
        "accepted",
        1,
        frozenset({"gemeente_valid_in_period"}),
        "'BRIELLE'",
        2,
        name="vektis_zvw_gemeente_2023.csv",
    ),
    "gemeente-after-its-merger-budget": Case(
        "budgetten",
        lambda t: t.replace(";2022;", ";2023;"),
        "accepted",
        9,
        frozenset({"gemeente_valid_in_period"}),
        "'GM0501'",
        5,
        name="budgetten_2023.csv",
    ),
    "birth-date-before-1900": Case(
        "gemeente_jeugd",
        edit_jeugd("geboortedatum", "01-01-1890"),
        "accepted",
        1,
        frozenset({"date_in_range"}),
        "column geboortedatum: value <withheld>",
        2,
    ),
    "start-after-the-month": Case(
        "gemeente_jeugd",
        edit_jeugd("startdatum", "15-03-2022", RUNNING),
        "accepted",
        1,
        frozenset({"start_after_period"}),
        "'15-03-2022'",
    ),
    "ended-before-the-month": Case(
        "gemeente_jeugd",
        edit_jeugd("einddatum", "15-01-2022", STARTED_BEFORE_2021),
        "accepted",
        1,
        frozenset({"end_before_period"}),
        "'15-01-2022'",
    ),
    "start-in-the-future": Case(
        "gemeente_jeugd",
        edit_jeugd("startdatum", "01-01-2999", RUNNING),
        "accepted",
        1,
        frozenset({"date_in_range", "start_after_period"}),
        "'01-01-2999'",
    ),
    "negative-cost": Case(
        "gemeente_jeugd", edit_jeugd("bedrag", "-12,50"), "accepted", 1, frozenset({"non_negative"}), "'-12,50'", 2
    ),
    "negative-cost-vektis": Case(
        "vektis_zvw",
        vektis_row("kosten_farmacie", "-5.00", 3),
        "accepted",
        1,
        frozenset({"in_range"}),
        "'-5.00'",
        4,
        name="vektis_zvw_gemeente_2021.csv",
    ),
    "duplicated-row": Case(
        "gemeente_jeugd", duplicate_line(5), "accepted", 2, frozenset({"unique"}), "breaks rule unique", 6
    ),
    # re-deliveries
    "same-file-twice": Case("gemeente_jeugd", lambda t: t, "unchanged", name=JEUGD_BASE),
    "corrected-redelivery": Case("gemeente_jeugd", corrected, "accepted", name=JEUGD_BASE),
}
# Vektis and KWB row-level cases deliver another year of the same layout, so fix their year column


def ingest_one(settings: Settings, source: str, path: Path) -> dict:
    with warehouse.connect(settings) as con:
        return ingest.ingest_file(SPEC[source], path, con, settings)


def raw(settings: Settings, table: str, period: str) -> pd.DataFrame:
    with warehouse.connect(settings, read_only=True) as con:
        return con.execute(
            f"select * exclude (_batch_id) from raw.{table} where _period = ? order by _row", [period]
        ).df()


def deliver(folder: Path, name: str, content: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_file(case_id, tmp_path, demo, caplog):
    case = CASES[case_id]
    spec = SPEC[case.source]
    settings = Settings(home=tmp_path / "var", pseudonym_key="test-key")
    base_name = BASE[case.source]
    base_text = clean(demo, case.source, base_name)
    base_period = spec.period(spec.file_pattern.match(base_name))
    first = ingest_one(settings, case.source, deliver(tmp_path / "first", base_name, base_text))
    assert first["status"] == "accepted" and first["rejected"] == 0
    before = raw(settings, spec.table, base_period)

    if case.source == "gemeente_jeugd" and case.status != "rejected" and case.name is None:
        source_name, name = JEUGD_NEXT, JEUGD_NEXT
    else:
        source_name, name = base_name, case.name or base_name
    content = case.edit(clean(demo, case.source, source_name))
    rows_in_file = len(content.splitlines()) - 1
    with caplog.at_level(logging.WARNING, logger="mmr.ingest"):
        result = ingest_one(settings, case.source, deliver(tmp_path / "second", name, content))

    assert result["status"] == case.status, result
    folders = list((settings.quarantine_dir / spec.source).glob("*/reasons.csv"))
    if case.status == "rejected":
        [reasons_file] = folders
        reasons = pd.read_csv(reasons_file)
        assert len(reasons) == 1 and reasons.loc[0, "rule"] == "readable_file"
        message = reasons.loc[0, "message"]
        assert message.startswith(name) and case.fragment in message, message
    elif case.status == "unchanged":
        assert not folders
    else:
        assert result["rejected"] == case.rejected
        assert result["rows"] == rows_in_file - case.rejected
        if case.rejected:
            [reasons_file] = folders
            reasons = pd.read_csv(reasons_file, dtype={"column": str})
            assert set(reasons["rule"]) == case.rules
            assert reasons["row"].nunique() == case.rejected
            assert reasons["message"].str.startswith(f"{name}, row ").all()
            assert reasons["message"].str.contains(case.fragment, regex=False).any(), reasons["message"].tolist()
            if case.row is not None:
                assert case.row in set(reasons["row"])
                named = reasons.loc[reasons["row"] == case.row, "message"]
                assert named.str.contains(f"{name}, row {case.row}, column ").all()
            for rule in case.rules:
                assert reasons["message"].str.contains(f"breaks rule {rule}").any()
        else:
            assert not folders
        new_period = spec.period(spec.file_pattern.match(name))
        assert len(raw(settings, spec.table, new_period)) == result["rows"]

    after = raw(settings, spec.table, base_period)
    if case_id == "corrected-redelivery":
        assert len(after) == len(before) - 3
        assert 1234.56 in set(after["bedrag"].round(2))
    else:
        pd.testing.assert_frame_equal(after, before)  # nothing accepted before is lost
    if case_id.startswith("extra-column"):
        assert any("not in the contract; accepted and ignored" in r.getMessage() for r in caplog.records)
        assert any(name in r.getMessage() for r in caplog.records)
        with warehouse.connect(settings, read_only=True) as con:
            columns = {c for (c,) in con.execute(f"select column_name from (describe raw.{spec.table})").fetchall()}
        assert not columns & {"opmerking", "nieuw"}


def test_the_corpus_covers_issue_5():
    assert len(CASES) >= 15
    kinds = {
        "wrong-delimiter",
        "latin-1-not-utf-8",
        "missing-column",
        "extra-column",
        "renamed-column",
        "bad-bsn",
        "bad-product-code",
        "unknown-gemeente",
        "start-after-the-month",
        "birth-date-before-1900",
        "negative-cost",
        "duplicated-row",
        "empty-file",
        "truncated-file",
        "header-only",
        "same-file-twice",
        "corrected-redelivery",
    }
    assert kinds <= set(CASES)
