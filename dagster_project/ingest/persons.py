"""Persons in a delivery, in bulk: what `pseudonymise.pseudonymise_person` does to one frame,
done inside DuckDB for many files at once (`PERSONS_TO_RAW`), and the buurt and wijk of each
address from the CBS postcode-6 table. No BSN, birth date or address reaches the raw layer.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.ingest.contract import quote
from dagster_project.ingest.pseudonymise import (
    _hmac_unique,
    birth_year,
    normalise_bsn,
    normalise_huisnummer,
    normalise_postcode,
    postcode4,
    valid_bsn,
)
from dagster_project.ingest.spec import RawSql, RawStep
from dagster_project.lib import warehouse

PC6_TABLE = "cbs_pc6_gwb"
PC6_ASSET_KEY = dg.AssetKey(["raw", "cbs", "pc6_gwb"])


PERSON_COLUMNS = frozenset({"bsn", "geboortedatum", "postcode", "huisnummer"})


def on_distinct(column: pa.ChunkedArray, compute: Callable[[pd.Series], np.ndarray]) -> np.ndarray:
    """`compute` on the distinct values of a text column only, mapped back onto its rows: a
    monthly export lists the same client in many rows."""
    if column.null_count:
        return np.asarray(compute(column.to_pandas()))
    encoded = pc.dictionary_encode(column).combine_chunks()
    return np.asarray(compute(encoded.dictionary.to_pandas()))[encoded.indices.to_numpy()]


PERSON_DERIVED = {"_valid_bsn": lambda table: on_distinct(table["bsn"], valid_bsn)}


def _distinct(column: pa.ChunkedArray) -> tuple[np.ndarray, pd.Series]:
    """Each row's index into the distinct values of a text column, and those values."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    return encoded.indices.to_numpy(zero_copy_only=False), encoded.dictionary.to_pandas()


def person_columns(delivered: pa.Table, key: bytes, con: duckdb.DuckDBPyConnection) -> dict[str, pa.Array]:
    """What `pseudonymise_person` derives from a person, and the buurt and wijk of their address,
    computed by the same functions on the distinct BSNs, addresses and birth dates of the
    delivered rows and mapped back: `_bsn_pseudoniem`, `_huishouden_pseudoniem`, `_postcode4`,
    `_geboortejaar`, `_buurt_code`, `_wijk_code`. No raw value leaves memory."""
    index, values = _distinct(delivered["bsn"])
    columns = {"_bsn_pseudoniem": pa.array(_hmac_unique(normalise_bsn(values), key, "bsn"), pa.int64())}
    postcodes, postcode_values = _distinct(delivered["postcode"])
    numbers, number_values = _distinct(delivered["huisnummer"])
    address, pairs = pd.factorize(postcodes.astype(np.int64) * len(number_values) + numbers)
    postcode = normalise_postcode(postcode_values).reset_index(drop=True)
    line = postcode.iloc[pairs // max(len(number_values), 1)].reset_index(drop=True) + "|"
    line += normalise_huisnummer(number_values).iloc[pairs % max(len(number_values), 1)].reset_index(drop=True)
    columns["_huishouden_pseudoniem"] = pa.array(_hmac_unique(line, key, "adres"), pa.int64()).take(address)
    columns["_postcode4"] = pa.array(postcode4(postcode_values), pa.string()).take(postcodes)
    births, birth_values = _distinct(delivered["geboortedatum"])
    columns["_geboortejaar"] = pa.array(birth_year(birth_values), pa.int64()).take(births)
    columns["_bsn_pseudoniem"] = columns["_bsn_pseudoniem"].take(index)
    columns["_buurt_code"], columns["_wijk_code"] = _located(con, _file_years(delivered), postcodes, postcode)
    return columns


def _file_years(delivered: pa.Table) -> np.ndarray:
    """Each row's year, from its file's month or year (0 when the file name gives neither)."""
    group = next((f"_ctx_{g}" for g in ("month", "year") if f"_ctx_{g}" in delivered.column_names), None)
    if group is None:
        return np.zeros(delivered.num_rows, np.int64)
    files = delivered[group].combine_chunks()
    per_file = files.dictionary.to_pandas().str[:4].astype(np.int64).to_numpy()
    return per_file[files.indices.to_numpy(zero_copy_only=False)]


def _located(
    con: duckdb.DuckDBPyConnection, years: np.ndarray, postcodes: np.ndarray, postcode: pd.Series
) -> tuple[pa.Array, pa.Array]:
    """The buurt and wijk of each row's postcode-6 (`postcodes`: its index into the normalised
    `postcode`) in the latest division up to its year, looked up once per distinct year and
    postcode: a few thousand lookups per chunk instead of a join of every row."""
    if not len(years):  # no rows: the lookup, made from the whole postcode table, is not needed
        return pa.array([], pa.string()), pa.array([], pa.string())
    count = max(len(postcode), 1)
    inverse, pairs = pd.factorize(years * count + postcodes.astype(np.int64))
    _postcode_lookup(con)
    con.register(
        "_addresses",
        pa.table(
            {
                "_k": pa.array(np.arange(len(pairs), dtype=np.int64)),
                "file_year": pa.array(pairs // count, pa.int64()),
                "postcode6": pa.array(postcode, pa.string()).take(pa.array(pairs % count)),
            }
        ),
    )
    try:
        found = con.execute(
            """
            with located_years as (
                select f.file_year, coalesce(max(p.year) filter (where p.year <= f.file_year), min(p.year)) as year
                from (select distinct file_year from _addresses) f
                cross join (select distinct year from _pc6_lookup) p
                group by f.file_year
            )
            select l.buurt_code, l.wijk_code
            from _addresses a
            left join located_years y on y.file_year = a.file_year
            left join _pc6_lookup l on l.year = y.year and l.postcode6 = a.postcode6
            order by a._k
            """
        ).to_arrow_table()
    finally:
        con.unregister("_addresses")
    rows = pa.array(inverse.reshape(-1).astype(np.int64))
    return found["buurt_code"].combine_chunks().take(rows), found["wijk_code"].combine_chunks().take(rows)


def persons_select(step: RawStep) -> str:
    """The raw rows of a municipal export: persons replaced by what `person_columns` derived."""
    out = []
    for column in step.columns:
        if column == "bsn":
            out += [f"t._{name} as {name}" for name in ("bsn_pseudoniem", "huishouden_pseudoniem", "postcode4")]
            out.append("t._geboortejaar as geboortejaar")
        elif column not in PERSON_COLUMNS:
            out.append(f"t.{quote(column)}")
    out += ["t._buurt_code as buurt_code", "t._wijk_code as wijk_code", *(f"t.{c}" for c in step.keep)]
    return f"select {', '.join(out)} from {step.relation} t"


PERSONS_TO_RAW = RawSql(person_columns, persons_select)


def _postcode_lookup(con: duckdb.DuckDBPyConnection) -> None:
    """`_pc6_lookup` (year, postcode6 → buurt, wijk) from `raw.cbs_pc6_gwb`, once per connection."""
    made = con.execute(
        "select count(*) from duckdb_tables() where temporary and table_name = '_pc6_lookup'"
    ).fetchone()[0]
    if made:
        return
    if warehouse.table_exists(con, "raw", PC6_TABLE):
        con.execute(
            f"create temp table _pc6_lookup as select year, postcode6, any_value(buurt_code) as buurt_code, "
            f"any_value(wijk_code) as wijk_code from raw.{PC6_TABLE} group by year, postcode6"
        )
    else:
        con.execute(
            "create temp table _pc6_lookup (year integer, postcode6 varchar, buurt_code varchar, wijk_code varchar)"
        )
