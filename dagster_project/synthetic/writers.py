"""Writers for the delivered formats: municipal CSV (Dutch decimals), StatLine CSV, GeoJSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

EPOCH = np.datetime64("1920-01-01")
_LAST = np.datetime64("2100-01-01")
_DAYS = np.arange(EPOCH, _LAST, dtype="datetime64[D]")
_DMY = pd.to_datetime(_DAYS).strftime("%d-%m-%Y").to_numpy(dtype=object)


def dmy(days: np.ndarray) -> np.ndarray:
    """datetime64[D] values -> 'dd-mm-yyyy' strings (NaT -> '')."""
    days = np.asarray(days, dtype="datetime64[D]")
    out = np.full(days.shape, "", dtype=object)
    ok = ~np.isnat(days)
    out[ok] = _DMY[(days[ok] - EPOCH).astype(np.int64)]
    return out


def month_start(month_index: np.ndarray) -> np.ndarray:
    """Month index (year*12 + month-1) -> first day as datetime64[D]."""
    return (np.asarray(month_index) - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]")


def month_label(month_index: np.ndarray) -> np.ndarray:
    m = np.asarray(month_index)
    return np.char.add(np.char.add((m // 12).astype(str), "-"), np.char.zfill((m % 12 + 1).astype(str), 2))


def write_municipal(frame: pd.DataFrame, path: Path) -> None:
    """`;`-separated, decimal comma, two decimals for money, no index."""
    frame.to_csv(path, sep=";", index=False, decimal=",", float_format="%.2f", lineterminator="\n")


def write_plain(frame: pd.DataFrame, path: Path, sep: str = ";", decimal: str = ".") -> None:
    frame.to_csv(path, sep=sep, index=False, decimal=decimal, float_format="%.2f", lineterminator="\n")


def statline_csv(frame: pd.DataFrame, text_columns: set[str], path: Path) -> None:
    """StatLine typed-dataset CSV: quoted header, quoted strings, `.` for secret numbers.

    Numeric columns must already be formatted as strings (with '.' where suppressed).
    """
    header = ";".join(f'"{c}"' for c in frame.columns)
    parts = []
    for column in frame.columns:
        values = frame[column].astype(str).to_numpy(dtype=object)
        if column in text_columns:
            values = '"' + values + '"'
        parts.append(values)
    lines = parts[0]
    for values in parts[1:]:
        lines = lines + ";" + values
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


def fmt_int(values: np.ndarray, secret: np.ndarray | None = None) -> np.ndarray:
    out = np.asarray(values).astype(np.int64).astype(str).astype(object)
    if secret is not None:
        out[secret] = "."
    return out


def fmt_dec(values: np.ndarray, secret: np.ndarray | None = None, digits: int = 1) -> np.ndarray:
    out = np.char.mod(f"%.{digits}f", np.asarray(values, dtype=float)).astype(object)
    if secret is not None:
        out[secret] = "."
    return out


def pad(values, width: int = 10) -> np.ndarray:
    return np.char.ljust(np.asarray(values).astype(str), width).astype(object)


_CENTS = np.array([f",{i:02d}" for i in range(100)])


def dutch_money(values: np.ndarray) -> np.ndarray:
    """Non-negative amounts -> strings with a decimal comma and two decimals ('1234,50')."""
    cents = np.round(np.asarray(values, dtype=float) * 100).astype(np.int64)
    return np.strings.add((cents // 100).astype(str), _CENTS[cents % 100])


def write_columns(path: Path, columns: dict[str, np.ndarray], start: int = 0, stop: int | None = None) -> None:
    """Write string columns (already formatted) as `;`-separated CSV with a header row."""
    import csv

    stop = len(next(iter(columns.values()))) if stop is None else stop
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\n")
        writer.writerow(list(columns))
        writer.writerows(zip(*(c[start:stop].tolist() for c in columns.values()), strict=True))


def write_table(table, path: Path, sep: str = ";") -> None:
    """Write an Arrow table of pre-formatted strings as CSV without quoting."""
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False, delimiter=sep, quoting_style="none")
    with path.open("wb") as handle:
        handle.write((sep.join(table.column_names) + "\n").encode("utf-8"))
        pacsv.write_csv(table, handle, write_options=options)
