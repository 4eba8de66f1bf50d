"""An attacker with every published table: tries to recover hidden or small counts (`mmr attack`).

Disclosure control decides once per cell and checks its rules as blocking audits before a
publish; this is the other side, run on what was published: the test suite runs it on the demo
in both modes, `mmr bench` on the national build, and an operator with `mmr attack`. Every
attack reads only what a dashboard user can reach (the published tables, all levels and years)
and reports a finding when it pins down one exact value that disclosure control meant to hide:
a count below the threshold, or a count hidden in some published table. All attacks work on
whole columns at once (pandas), so they run the same on the demo and on a national build.

- ``implied_counts``: a rate published beside a rounded base (in the same table or another one)
  gives the numerator when only one whole number fits the base's rounding interval
  (``benchmark`` clients per 1,000 × ``wijk_kerncijfers`` inwoners; ``aanbieder_resultaat``
  uitval % × afgesloten trajecten).
- ``intervention_levels``: levels in ``interventie_effect`` (rate per 1,000 per year × months ×
  inwoners) imply counts of new trajectories.
- ``hidden_here_published_there``: one cell hidden in one table while a figure derived from it is
  published in another (the same wijk, year and domain).
- ``differencing_levels``: a gemeente total known exactly minus the wijken known exactly leaves the
  one wijk that is not.
- ``differencing_years``: a value hidden in one year that follows from the next year's value and
  its published change.
- ``small_averages``: an average over fewer than three contributors, each of whom a gemeente role
  may not see (peer means, regional means).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from dagster_project.settings import Settings

DOMAINS = ("jeugd", "wmo", "participatie")
#: relative tolerance for "a whole number" (doubles carry ~16 digits; published rates far fewer)
TOLERANCE = 1e-7


class Frames(dict[str, pd.DataFrame]):
    """Every published table by name, with the disclosure rules it was published under (the
    threshold below which a count is small, the base counts are rounded to)."""

    def __init__(self, tables: dict[str, pd.DataFrame], threshold: int = 10, rounding_base: int = 5) -> None:
        super().__init__(tables)
        self.threshold, self.rounding_base = threshold, rounding_base

    @property
    def half_width(self) -> int:
        """How far a published (rounded) base may lie from the true one."""
        return self.rounding_base // 2


Finding = dict[str, object]


def implied_numerator(rate: pd.Series, base: pd.Series, scale: float, half_width: int) -> pd.Series:
    """The one whole numerator that fits ``rate = numerator / base * scale`` for every whole base in
    ``base ± half_width`` that gives a whole numerator at all; NA when none or several fit."""
    rate = pd.to_numeric(rate, errors="coerce").astype(float)
    base = pd.to_numeric(base, errors="coerce").astype(float)
    candidates = []
    for delta in range(-half_width, half_width + 1):
        n = base + delta
        k = rate * n / scale
        whole = (k - k.round()).abs() <= TOLERANCE * np.maximum(1.0, k.abs())
        candidates.append(k.round().where(whole & (n > 0)))
    table = pd.concat(candidates, axis=1)
    found = table.min(axis=1)
    unique = table.nunique(axis=1) == 1
    return found.where(unique & rate.notna() & base.notna()).astype("Int64")


def _per_1000(frames: Frames) -> pd.DataFrame:
    """Benchmark clients per 1,000 with the inwoners published for the same area and year."""
    bench = frames["benchmark"]
    rows = bench[bench["indicator"].str.endswith("_clienten_per_1000") & bench["waarde"].notna()].copy()
    rows["domein"] = rows["indicator"].str.replace("_clienten_per_1000", "", regex=False)
    wijk_inw = frames["wijk_kerncijfers"][["wijk_code", "year", "inwoners"]].rename(columns={"wijk_code": "area_code"})
    gm_inw = frames["zvw_context"][["gemeente_code", "year", "inwoners"]].rename(columns={"gemeente_code": "area_code"})
    wijk = rows[rows["area_level"] == "wijk"].merge(wijk_inw, on=["area_code", "year"], how="inner")
    gemeente = rows[rows["area_level"] == "gemeente"].merge(gm_inw, on=["area_code", "year"], how="inner")
    both = pd.concat([wijk, gemeente], ignore_index=True)
    both["clienten"] = implied_numerator(both["waarde"], both["inwoners"], 1000.0, frames.half_width)
    return both


def _cells(rows: pd.DataFrame, label: str, where: object, **columns: object) -> pd.DataFrame:
    """`rows` as client cells (area_code, year, domein), with `columns` set and `label` saying where."""
    return rows.assign(**columns, **{label: where})[["area_code", "year", "domein", label]]


def hidden_client_cells(frames: Frames) -> pd.DataFrame:
    """Every (area, year, domain) client count some published table hides."""
    hidden = []
    vw = frames["verwacht_werkelijk"]
    rows = vw[(vw["maat"] == "clienten") & vw["werkelijk"].isna()]
    hidden.append(_cells(rows, "table", "verwacht_werkelijk", area_code=rows["wijk_code"]))
    budget = frames["budget_realisatie"]
    rows = budget[budget["clienten"].isna()]
    hidden.append(_cells(rows, "table", "budget_realisatie", area_code=rows["gemeente_code"]))
    report = frames["raadsrapportage"]
    rows = report[report["indicator"].str.startswith("clienten_") & report["waarde"].isna()]
    domein = rows["indicator"].str.replace("clienten_", "")
    hidden.append(_cells(rows, "table", "raadsrapportage", area_code=rows["gemeente_code"], domein=domein))
    return pd.concat(hidden, ignore_index=True).drop_duplicates(["area_code", "year", "domein"])


def implied_counts(frames: Frames) -> list[Finding]:
    findings = []
    per_1000 = _per_1000(frames)
    hidden = hidden_client_cells(frames)
    known = per_1000[per_1000["clienten"].notna()].merge(hidden, on=["area_code", "year", "domein"], how="left")
    for row in known.itertuples(index=False):
        if row.clienten < frames.threshold or isinstance(row.table, str):
            findings.append(
                {
                    "attack": "benchmark rate × inwoners",
                    "cell": f"{row.area_code} {row.year} {row.domein}",
                    "value": int(row.clienten),
                    "hidden_in": row.table if isinstance(row.table, str) else "below threshold",
                }
            )
    providers = frames["aanbieder_resultaat"]
    for rate, base in (("uitval_pct", "afgesloten_trajecten"), ("doelrealisatie_pct", "afgesloten_trajecten")):
        numerator = implied_numerator(providers[rate], providers[base], 100.0, frames.half_width)
        small = providers[numerator.notna() & (numerator < frames.threshold)]
        for index, row in small.iterrows():
            findings.append(
                {
                    "attack": f"aanbieder_resultaat {rate} × {base}",
                    "cell": f"{row['aanbieder_code']} {row['gemeente_code']} {row['year']} {row['domein']}",
                    "value": int(numerator[index]),
                    "hidden_in": "below threshold",
                }
            )
    return findings


def intervention_levels(frames: Frames) -> list[Finding]:
    """New trajectories per 1,000 per year × months / 12 × inwoners: the count before and after."""
    effects = frames["interventie_effect"]
    effects = effects[effects["wijk_code"].notna()]
    inwoners = frames["wijk_kerncijfers"][["wijk_code", "year", "inwoners"]]
    findings = []
    for offset in (0, -1, 1):
        joined = effects.merge(
            inwoners.assign(startjaar=inwoners["year"] - offset), on=["wijk_code", "startjaar"], how="inner"
        )
        for level, months in (("niveau_voor", "n_maanden_voor"), ("niveau_na", "n_maanden_na")):
            rate = pd.to_numeric(joined[level], errors="coerce") * pd.to_numeric(joined[months], errors="coerce") / 12
            count = implied_numerator(rate, joined["inwoners"], 1000.0, frames.half_width)
            for index, row in joined[count.notna() & (count < frames.threshold)].iterrows():
                findings.append(
                    {
                        "attack": f"interventie_effect {level} × {months} × inwoners",
                        "cell": f"{row['interventie_id']} {row['uitkomst']} (inwoners {row['year']})",
                        "value": int(count[index]),
                        "hidden_in": "below threshold",
                    }
                )
    unique = {(f["attack"], f["cell"].split(" (")[0]): f for f in findings}
    return list(unique.values())


def hidden_here_published_there(frames: Frames) -> list[Finding]:
    """A wijk-year-domain client count hidden in one table, a figure resting on it shown in another."""
    hidden = hidden_client_cells(frames)
    published = []
    bench = frames["benchmark"]
    rows = bench[bench["indicator"].str.endswith("_clienten_per_1000") & bench["waarde"].notna()]
    published.append(
        _cells(rows, "shown_in", "benchmark", domein=rows["indicator"].str.replace("_clienten_per_1000", ""))
    )
    funding = frames["populatiebekostiging"]
    rows = funding[funding["werkelijke_kosten"].notna()]
    published.append(_cells(rows, "shown_in", "populatiebekostiging", area_code=rows["wijk_code"]))
    vw = frames["verwacht_werkelijk"]
    rows = vw[vw["werkelijk"].notna()]
    published.append(_cells(rows, "shown_in", "verwacht_werkelijk " + rows["maat"], area_code=rows["wijk_code"]))
    clash = hidden.merge(pd.concat(published, ignore_index=True), on=["area_code", "year", "domein"])
    return [
        {
            "attack": "hidden here, published there",
            "cell": f"{row.area_code} {row.year} {row.domein}",
            "value": None,
            "hidden_in": f"{row.table}; shown in {row.shown_in}",
        }
        for row in clash.itertuples(index=False)
    ]


def differencing_levels(frames: Frames) -> list[Finding]:
    """Gemeente total known exactly minus every wijk known exactly, when one wijk is left."""
    per_1000 = _per_1000(frames)
    exact = per_1000[per_1000["clienten"].notna()]
    totals = exact[exact["area_level"] == "gemeente"][["area_code", "year", "domein", "clienten"]].rename(
        columns={"area_code": "gemeente_code", "clienten": "totaal"}
    )
    vw = frames["verwacht_werkelijk"]
    wijken = vw[vw["maat"] == "clienten"][["gemeente_code", "wijk_code", "year", "domein"]].drop_duplicates()
    wijken = wijken.merge(
        exact[exact["area_level"] == "wijk"][["area_code", "year", "domein", "clienten"]].rename(
            columns={"area_code": "wijk_code"}
        ),
        on=["wijk_code", "year", "domein"],
        how="left",
    )
    hidden = hidden_client_cells(frames).rename(columns={"area_code": "wijk_code"})
    findings = []
    keys = ["gemeente_code", "year", "domein"]
    for key, group in wijken.merge(totals, on=keys).groupby(keys):
        unknown = group[group["clienten"].isna()]
        if len(unknown) != 1:
            continue
        value = int(group["totaal"].iloc[0] - group["clienten"].sum())
        wijk = unknown["wijk_code"].iloc[0]
        is_hidden = not hidden[
            (hidden["wijk_code"] == wijk) & (hidden["year"] == key[1]) & (hidden["domein"] == key[2])
        ].empty
        if is_hidden or value < frames.threshold:
            findings.append(
                {
                    "attack": "gemeente total minus wijken",
                    "cell": f"{wijk} {key[1]} {key[2]}",
                    "value": value,
                    "hidden_in": "verwacht_werkelijk" if is_hidden else "below threshold",
                }
            )
    return findings


def _previous_from_change(
    frame: pd.DataFrame, keys: list[str], value: str, change: str | None, previous: str | None = None
) -> pd.DataFrame:
    """Rows whose previous-year value is hidden but follows from this year's value and change."""
    this = frame[keys + ["year", value] + [c for c in (change, previous) if c]].copy()
    if previous:
        this["recovered"] = this[previous]
    else:
        this["recovered"] = this[value] - this[change]
    this = this[this["recovered"].notna()]
    before = frame[keys + ["year", value]].rename(columns={value: "before"})
    before["year"] = before["year"] + 1
    joined = this.merge(before, on=keys + ["year"], how="inner")
    return joined[joined["before"].isna()]


def differencing_years(frames: Frames) -> list[Finding]:
    findings = []
    checks: list[tuple[str, list[str], str, str | None, str | None]] = [
        ("raadsrapportage", ["gemeente_code", "indicator"], "waarde", None, "vorig_jaar"),
        ("raadsrapportage", ["gemeente_code", "indicator"], "waarde", "verandering", None),
        ("wijk_veerkracht", ["wijk_code"], "veerkracht_index", "veerkracht_verandering", None),
    ]
    providers = frames["aanbieder_resultaat"]
    for column in providers.columns:
        if column.endswith("_verandering"):
            checks.append(
                (
                    "aanbieder_resultaat",
                    ["gemeente_code", "domein", "aanbieder_code"],
                    column[: -len("_verandering")],
                    column,
                    None,
                )
            )
    for table, keys, value, change, previous in checks:
        for row in _previous_from_change(frames[table], keys, value, change, previous).itertuples(index=False):
            findings.append(
                {
                    "attack": f"{table}: {value} of the year before from {previous or change}",
                    "cell": " ".join(str(getattr(row, k)) for k in keys) + f" {row.year - 1}",
                    "value": row.recovered,
                    "hidden_in": table,
                }
            )
    return findings


def _means_over_few(rows: pd.DataFrame, attack: str, cell: list[str], mean: str, n: str, unit: str) -> list[Finding]:
    """A finding per row of `rows` whose `mean` is shown over fewer than three (`n`) contributors."""
    few = rows[rows[mean].notna() & (rows[n] < 3)]
    return [
        {
            "attack": attack,
            "cell": " ".join(str(row[c]) for c in cell),
            "value": row[mean],
            "hidden_in": f"{row[n]} {unit}",
        }
        for row in few.to_dict("records")
    ]


def small_averages(frames: Frames) -> list[Finding]:
    """Means over one or two others: a gemeente knowing its own value learns the other's."""
    report = frames["raadsrapportage"]
    shown = report[report["waarde"].notna()].groupby(["year", "indicator"])["gemeente_code"].nunique()
    national = report.merge(shown.rename("n").reset_index(), on=["year", "indicator"])
    return [
        *_means_over_few(
            frames["benchmark"],
            "peer mean over fewer than three",
            ["area_code", "year", "indicator"],
            "peer_gemiddelde",
            "n_peers",
            "peer(s)",
        ),
        *_means_over_few(
            report,
            "regional mean over fewer than three gemeenten",
            ["regio_code", "year", "indicator"],
            "regio_gemiddelde",
            "n_in_regio",
            "gemeente(n)",
        ),
        *_means_over_few(
            national,
            "national mean over fewer than three gemeenten",
            ["year", "indicator"],
            "nederland_gemiddelde",
            "n",
            "gemeente(n)",
        ),
    ]


ATTACKS: dict[str, Callable[[Frames], list[Finding]]] = {
    "implied_counts": implied_counts,
    "intervention_levels": intervention_levels,
    "hidden_here_published_there": hidden_here_published_there,
    "differencing_levels": differencing_levels,
    "differencing_years": differencing_years,
    "small_averages": small_averages,
}


def run_all(frames: Frames) -> dict[str, list[Finding]]:
    return {name: attack(frames) for name, attack in ATTACKS.items()}


def published_surface(settings: Settings) -> Frames:
    """Every table a dashboard user can reach, whole, under the installation's disclosure rules."""
    from dagster_project.resources import warehouse_for

    with warehouse_for(settings).published() as con:
        tables = {table: con.frame(table) for table in con.tables()}
    return Frames(tables, settings.suppression_threshold, settings.rounding_base)
