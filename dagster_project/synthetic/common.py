"""Shared constants and helpers of the synthetic generator: scales, seeding, code formats.

Every random draw comes from a `numpy.random.Generator` seeded by `(seed, *keys)` through a
SHA-256 of the keys, so a gemeente-year gets the same numbers whatever order the gemeenten are
processed in, and demo and national produce the same data for the gemeenten they share.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REAL_DATA = Path("/work/shared/data/real")
GEOJSON_2022 = REAL_DATA / "geo" / "gemeenten_2022_gegeneraliseerd.geojson"
SEEDS = Path(__file__).resolve().parents[2] / "dbt" / "seeds"

# The real merger used by both scales: Brielle, Hellevoetsluis and Westvoorne became Voorne aan Zee.
MERGER = {
    "old": ["GM0501", "GM0530", "GM0614"],
    "new": "GM1992",
    "new_name": "Voorne aan Zee",
    "date": "2023-01-01",
    "year": 2023,
}
# A synthetic wijk re-coding: one wijk of Nissewaard is split into two new wijken from 2024 on.
RECODE = {"gemeente": "GM1930", "year": 2024}

DEMO_GEMEENTEN = [
    "GM0501",  # Brielle
    "GM0530",  # Hellevoetsluis
    "GM0614",  # Westvoorne
    "GM1930",  # Nissewaard
    "GM1924",  # Goeree-Overflakkee
    "GM1963",  # Hoeksche Waard
    "GM0613",  # Albrandswaard
    "GM0489",  # Barendrecht
    "GM0597",  # Ridderkerk
    "GM0556",  # Maassluis
]


@dataclass(frozen=True)
class Scale:
    name: str
    first_year: int
    last_year: int
    gemeenten: list[str] | None  # None = every gemeente of the 2022 division

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))


SCALES = {
    "demo": Scale("demo", 2022, 2024, DEMO_GEMEENTEN),
    "national": Scale("national", 2015, 2024, None),
}

# Letters used in Dutch postcodes (F, I, O, Q, U and Y are not used).
POSTCODE_LETTERS = np.array(list("ABCDEGHJKLMNPRSTVWXZ"))


def _key_words(keys: tuple) -> list[int]:
    digest = hashlib.sha256("|".join(str(k) for k in keys).encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def rng_for(seed: int, *keys: object) -> np.random.Generator:
    """A generator that depends only on the seed and the keys (never on processing order)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *_key_words(keys)]))


def gm_num(code: str) -> int:
    return int(code[2:])


def wijk_code(gm: int, ww: np.ndarray | int) -> np.ndarray | str:
    if isinstance(ww, np.ndarray):
        return np.char.add(f"WK{gm:04d}", np.char.zfill(ww.astype(str), 2))
    return f"WK{gm:04d}{ww:02d}"


def buurt_code(gm: int, ww: np.ndarray, bb: np.ndarray) -> np.ndarray:
    return np.char.add(np.char.add(f"BU{gm:04d}", np.char.zfill(ww.astype(str), 2)), np.char.zfill(bb.astype(str), 2))


def bsn_from_ids(ids: np.ndarray) -> np.ndarray:
    """Unique 9-digit BSNs that pass the 11-proef, one per distinct non-negative id (< 9e7).

    The id is scrambled by a bijection modulo 9e7, then split into a 7-digit prefix and the
    index (0..8) of one of the at least nine values of the 8th digit for which the check digit
    exists. Distinct ids therefore give distinct valid numbers.
    """
    space = 90_000_000
    scrambled = (ids.astype(np.int64) * 48_271_477 + 12_345_671) % space
    prefix = scrambled // 9
    k = scrambled % 9
    digits = np.zeros((len(ids), 9), dtype=np.int64)
    rest = prefix.copy()
    for position in range(6, -1, -1):
        digits[:, position] = rest % 10
        rest //= 10
    weights = np.array([9, 8, 7, 6, 5, 4, 3])
    partial = digits[:, :7] @ weights
    d8 = np.arange(10)
    check = (partial[:, None] + 2 * d8[None, :]) % 11
    valid = check <= 9
    order = np.cumsum(valid, axis=1) - 1
    pick = np.argmax(valid & (order == k[:, None]), axis=1)
    digits[:, 7] = pick
    digits[:, 8] = check[np.arange(len(ids)), pick]
    as_int = digits @ (10 ** np.arange(8, -1, -1))
    return np.char.zfill(as_int.astype(str), 9)


def elfproef(bsn: str) -> bool:
    if len(bsn) != 9 or not bsn.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(bsn[:8], range(9, 1, -1), strict=True)) - int(bsn[8])
    return total % 11 == 0
