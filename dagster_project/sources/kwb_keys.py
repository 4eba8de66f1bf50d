"""The keys of CBS Kerncijfers wijken en buurten (KWB) per year: which StatLine key holds each
topic MMR reads. Shared by the source (`cbs_kwb`), the OData connector and the generator, which
writes each year under that year's keys.
"""

import re

#: StatLine table of KWB per year.
KWB_TABLES = {
    2017: "83765NED",
    2018: "84286NED",
    2019: "84583NED",
    2020: "84799NED",
    2021: "85039NED",
    2022: "85318NED",
    2023: "85618NED",
    2024: "85984NED",
    2025: "86165NED",
}

KEY_COLUMNS = ["WijkenEnBuurten", "Gemeentenaam", "SoortRegio", "Codering"]
COUNTS = [
    "AantalInwoners",
    "Mannen",
    "Vrouwen",
    "k_0Tot15Jaar",
    "k_15Tot25Jaar",
    "k_25Tot45Jaar",
    "k_45Tot65Jaar",
    "k_65JaarOfOuder",
    "HuishoudensTotaal",
    "Eenpersoonshuishoudens",
    "HuishoudensZonderKinderen",
    "HuishoudensMetKinderen",
    "PersonenPerSoortUitkeringBijstand",
    "PersonenPerSoortUitkeringAO",
    "PersonenPerSoortUitkeringWW",
    "PersonenPerSoortUitkeringAOW",
    "JongerenMetJeugdzorgInNatura",
    "WmoClienten",
]
MEASURES = ["GemiddeldeHuishoudensgrootte", "Bevolkingsdichtheid", "GemiddeldInkomenPerInwoner", "WmoClientenRelatief"]
PERCENTAGES = ["HuishoudensMetEenLaagInkomen", "PercentageJongerenMetJeugdzorg"]
NUMERIC_COLUMNS = [*COUNTS, *MEASURES, *PERCENTAGES]
TEXT_COLUMNS = ["IndelingswijzigingWijkenEnBuurten", "MeestVoorkomendePostcode", "Dekkingspercentage"]
COLUMNS = [*KEY_COLUMNS, *NUMERIC_COLUMNS, *TEXT_COLUMNS]
#: Without these a file is not KWB: it is rejected whole.
REQUIRED = [*KEY_COLUMNS, "AantalInwoners"]


def _keys(numbers: dict[str, int]) -> dict[str, str]:
    return {name: f"{name}_{number}" for name, number in numbers.items()}


_IDENTITY = {"Gemeentenaam": 1, "SoortRegio": 2, "Codering": 3, "IndelingswijzigingWijkenEnBuurten": 4}
_POPULATION = {
    "AantalInwoners": 5,
    "Mannen": 6,
    "Vrouwen": 7,
    "k_0Tot15Jaar": 8,
    "k_15Tot25Jaar": 9,
    "k_25Tot45Jaar": 10,
    "k_45Tot65Jaar": 11,
    "k_65JaarOfOuder": 12,
}
_HOUSEHOLDS = [
    "HuishoudensTotaal",
    "Eenpersoonshuishoudens",
    "HuishoudensZonderKinderen",
    "HuishoudensMetKinderen",
    "GemiddeldeHuishoudensgrootte",
    "Bevolkingsdichtheid",
]
_BENEFITS = [
    "PersonenPerSoortUitkeringBijstand",
    "PersonenPerSoortUitkeringAO",
    "PersonenPerSoortUitkeringWW",
    "PersonenPerSoortUitkeringAOW",
]
_CARE = ["JongerenMetJeugdzorgInNatura", "PercentageJongerenMetJeugdzorg", "WmoClienten", "WmoClientenRelatief"]


def _layout(households: int, income: int, low_income: int | None, benefits: int, care: int | None, **more) -> dict:
    numbers = {**_IDENTITY, **_POPULATION}
    numbers |= {name: households + i for i, name in enumerate(_HOUSEHOLDS)}
    numbers |= {"GemiddeldInkomenPerInwoner": income}
    numbers |= {"HuishoudensMetEenLaagInkomen": low_income} if low_income else {}
    numbers |= {name: benefits + i for i, name in enumerate(_BENEFITS)}
    numbers |= {name: care + i for i, name in enumerate(_CARE)} if care else {}
    return _keys(numbers | more)


#: The key of each topic MMR reads, per KWB year, from the tables' TypedDataSet headers
#: (2019: the delivered file itself; the other years: the tables' DataProperties as public code
#: reading them uses them). A topic a year's list leaves out is either absent that year
#: (`ABSENT`) or not verified (then it is matched by its name without the suffix). 2021 and
#: 2022 are not verified at all. 2020's first release leaves income and care empty (the keys are
#: there, the values `.`).
KWB_KEYS: dict[int, dict[str, str]] = {
    2017: _layout(households=28, income=66, low_income=72, benefits=74, care=None),
    2018: _layout(
        households=28,
        income=69,
        low_income=75,
        benefits=80,
        care=84,
        MeestVoorkomendePostcode=113,
        Dekkingspercentage=114,
    ),
    2019: _layout(
        households=28,
        income=72,
        low_income=78,
        benefits=83,
        care=87,
        MeestVoorkomendePostcode=113,
        Dekkingspercentage=114,
    ),
    2023: _layout(households=29, income=81, low_income=87, benefits=92, care=96),
    2024: _layout(households=29, income=78, low_income=None, benefits=87, care=91),
}
KWB_KEYS[2020] = KWB_KEYS[2019]
KWB_KEYS[2025] = KWB_KEYS[2024]

#: Topics a KWB year's table does not have: 2017 publishes no jeugdzorg and Wmo figures, 2024
#: and 2025 no share of low-income households (poverty is measured differently from 2024 on).
ABSENT: dict[int, set[str]] = {
    2017: set(_CARE),
    2024: {"HuishoudensMetEenLaagInkomen"},
    2025: {"HuishoudensMetEenLaagInkomen"},
}


def strip_suffix(column: str) -> str:
    """`AantalInwoners_5` → `AantalInwoners`; `k_0Tot15Jaar_8` → `k_0Tot15Jaar`."""
    return re.sub(r"_\d+$", "", column)


def layout_year(year: int) -> int:
    """The verified key list a generated or undocumented year follows: its own, else the latest
    verified year before it, else the earliest."""
    known = sorted(KWB_KEYS)
    return year if year in KWB_KEYS else max([y for y in known if y < year], default=known[0])


def keys_of(year: int) -> dict[str, str]:
    """Topic → key for writing a year as CBS would: the year's verified keys (or those of its
    layout year), without the topics it does not have; a topic with no verified key that year
    takes the key of the nearest year that has one."""
    layout = layout_year(year)
    keys = dict(KWB_KEYS[layout])
    by_distance = sorted(KWB_KEYS, key=lambda other: (abs(other - layout), other))
    for name in COLUMNS[1:]:
        if name not in keys and name not in ABSENT.get(layout, set()):
            keys[name] = next(KWB_KEYS[other][name] for other in by_distance if name in KWB_KEYS[other])
    return keys
