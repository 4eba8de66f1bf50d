"""A digest of everything published, per table: the proof that work on speed left every figure as it
was (compare the digests of two builds of the same deliveries: `mmr digest`, `mmr bench`).

A table's digest is the SHA-256 of its rows in a canonical form: sorted by every column, numbers
to eight significant digits (the last bits of a parallel sum or a model fit of doubles differ
between runs and machines), and without the columns that say when a row was built or published.
"""

from __future__ import annotations

import hashlib

import pandas as pd

#: Columns that hold a moment of building, not a figure.
MOMENT_SUFFIXES = ("_at",)
SIGNIFICANT_DIGITS = 8


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of a published table as text, in one order, whatever engine or run produced them."""
    figures = frame.drop(columns=[c for c in frame.columns if c.endswith(MOMENT_SUFFIXES)])
    text = pd.DataFrame(index=figures.index)
    for column in figures.columns:
        values = figures[column]
        if pd.api.types.is_bool_dtype(values):
            text[column] = values.map({True: "true", False: "false"})
        elif pd.api.types.is_integer_dtype(values):
            text[column] = values.astype("Int64").astype("string")
        elif pd.api.types.is_numeric_dtype(values):
            numbers = values.astype("float64")
            text[column] = numbers.map(f"{{:.{SIGNIFICANT_DIGITS}g}}".format).where(numbers.notna(), "")
        else:
            text[column] = values.astype("string").fillna("")
    text = text.fillna("")
    return text.sort_values(list(text.columns), kind="stable").reset_index(drop=True)


def table_digest(frame: pd.DataFrame) -> dict:
    rows = canonical(frame)
    digest = hashlib.sha256("\t".join(rows.columns).encode())
    for line in rows.itertuples(index=False, name=None):
        digest.update(("\n" + "\t".join(line)).encode())
    return {"rows": len(rows), "sha256": digest.hexdigest()}


def published_digest(tables: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """`{table: {rows, sha256}}` of every published table."""
    return {name: table_digest(frame) for name, frame in sorted(tables.items())}


def differences(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """What differs between two digests, in words; empty when every table is identical."""
    found = []
    for name in sorted(set(before) | set(after)):
        was, now = before.get(name, {}), after.get(name, {})
        if was != now:
            rows = f"{name}: {was.get('rows', 'absent')} rows before, {now.get('rows', 'absent')} after"
            found.append(rows if was.get("rows") != now.get("rows") else f"{rows}, other figures")
    return found
