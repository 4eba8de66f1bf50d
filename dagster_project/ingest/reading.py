"""Reading delivered files: which files in a landing folder are complete, and a delimited file's
header and rows as Arrow text columns, or one `UnreadableFile` message saying what is wrong with it.

Parse errors never echo the offending line: it may hold personal data.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv

from dagster_project.settings import Settings

log = logging.getLogger("mmr.ingest")
T = TypeVar("T")
#: StatLine's CSV downloads number their rows in an `ID` column: expected, not worth a warning.
STATLINE_ROW_NUMBER = ("ID",)
TEMP_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".filepart")


class UnreadableFile(Exception):
    """The file as a whole cannot be read: encoding, delimiter, columns, truncation or emptiness."""


def content_hash(path: Path) -> str:
    """The SHA-256 of a file's bytes: a delivery's identity, whatever its name."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_complete_candidate(path: Path) -> bool:
    """Files still being written carry a temporary name; hidden files and markers are not data."""
    name = path.name
    return path.is_file() and not name.startswith((".", "~")) and not name.endswith(TEMP_SUFFIXES)


def landed_files(settings: Settings, source: str, pattern: str = "*.csv") -> list[Path]:
    folder = settings.landing_dir / source
    return sorted(p for p in folder.glob(pattern) if is_complete_candidate(p)) if folder.exists() else []


def split_header(
    path: Path, raw: bytes, expected_columns: list[str], delimiter: str, normalise: Callable[[str], str]
) -> tuple[list[str], bytes]:
    """The checks every delivered CSV passes before its rows are parsed: returns the header (as
    the contract names it) and the bytes after it, or raises UnreadableFile with one message."""
    if not raw or raw.isspace():
        raise UnreadableFile(f"{path.name}: the file is empty")
    if not raw.isascii():
        try:
            raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                f"{path.name}: not UTF-8 (byte {exc.start} cannot be decoded); deliver the file as UTF-8"
            ) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    end = min((i for i in (raw.find(b"\n"), raw.find(b"\r")) if i >= 0), default=len(raw))
    first = raw[:end].decode("utf-8")
    header = [normalise(c.strip()) for c in next(csv.reader(io.StringIO(first), delimiter=delimiter))]
    if len(header) == 1 and len(expected_columns) > 1:
        raise UnreadableFile(f"{path.name}: expected '{delimiter}' as delimiter, found a single column")
    missing = [c for c in expected_columns if c not in header]
    if missing:
        raise UnreadableFile(f"{path.name}: missing columns {', '.join(missing)}")
    if len(set(header)) < len(header):
        raise UnreadableFile(f"{path.name}: duplicated column names in the header")
    extra = [c for c in header if c and c not in expected_columns and c not in STATLINE_ROW_NUMBER]
    if extra:
        log.warning("%s: columns %s are not in the contract; accepted and ignored", path.name, ", ".join(extra))
    if not raw.endswith((b"\n", b"\r")):
        raise UnreadableFile(f"{path.name}: the last line is not terminated; the file looks truncated")
    if raw[end : end + 1] == b"\r" and raw[end + 1 : end + 2] == b"\n":
        end += 1
    body = raw[end + 1 :]
    if not body or body.isspace():
        raise UnreadableFile(f"{path.name}: the file has a header but no rows")
    return header, body


def parse_delimited(body: bytes, header: list[str], expected_columns: list[str], delimiter: str, name: str) -> pa.Table:
    """The rows of a header-less CSV body as text columns; parse errors never echo the line (it
    may hold personal data)."""
    try:
        return pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=header),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                include_columns=expected_columns,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        found = re.search(r"Expected \d+ columns, got \d+", str(exc))
        detail = found.group(0) if found else "a line cannot be parsed"
        raise UnreadableFile(f"{name}: malformed or truncated ({detail})") from None


def read_delimited_arrow(
    path: Path, expected_columns: list[str], delimiter: str = ";", normalise: Callable[[str], str] = str.strip
) -> pa.Table:
    """Read a delivered CSV as text columns with Arrow (multi-threaded), or raise UnreadableFile.

    The result holds the expected columns as strings (missing values as '') plus `_row`, the line
    number in the file. Parse errors never echo the offending line: it may hold personal data.
    """
    header, body = split_header(path, path.read_bytes(), expected_columns, delimiter, normalise)
    table = parse_delimited(body, header, expected_columns, delimiter, path.name)
    return table.append_column("_row", pa.array(range(2, table.num_rows + 2), pa.int64()))


@dataclass(frozen=True)
class DelimitedReader:
    """`read` of a delimited source: the same as `read_delimited_arrow`, but recognisable, so many
    files with the same header are parsed by Arrow in one pass."""

    columns: tuple[str, ...]
    delimiter: str = ";"
    normalise: Callable[[str], str] = str.strip

    def __call__(self, path: Path) -> pa.Table:
        return read_delimited_arrow(path, list(self.columns), self.delimiter, self.normalise)


def delimited_reader(
    columns: Iterable[str], delimiter: str = ";", normalise: Callable[[str], str] = str.strip
) -> DelimitedReader:
    return DelimitedReader(tuple(columns), delimiter, normalise)


def count_records(body: bytes) -> int | None:
    """Rows in a CSV body when every line is one row and no line is empty (then lines can be
    counted instead of parsed); None when that is not certain."""
    if b"\r" in body and (body.count(b"\r") != body.count(b"\r\n") or b"\r\n\r\n" in body or body[:1] == b"\r"):
        return None
    if b"\n\n" in body or body[:1] == b"\n":
        return None
    return body.count(b"\n")


def read_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, the next one produced in a thread while the caller works on this one (reading
    and parsing files wait on the disk and Arrow, writing on DuckDB: both release the GIL)."""
    done = object()
    with ThreadPoolExecutor(1, thread_name_prefix="mmr-read") as pool:
        upcoming = pool.submit(next, items, done)
        while (item := upcoming.result()) is not done:
            upcoming = pool.submit(next, items, done)
            yield item
