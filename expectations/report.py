"""How an audit failure is named for people (asset check descriptions, the publish log, `mmr status`).

Kept free of Great Expectations imports, so reading results back is quick.
"""

from __future__ import annotations

from typing import Any

__all__ = ["expectation_label", "summarise_failures"]


def expectation_label(failure: dict[str, Any]) -> str:
    """A failed expectation as a person reads it: type, rule and column.

    ``{"expectation_type": "unexpected_rows_expectation", "rule": "every_area_present",
    "column": "wijk_code"}`` becomes ``unexpected_rows_expectation[every_area_present] on wijk_code``.
    """
    label = str(failure.get("expectation_type") or "expectation")
    rule = failure.get("rule")
    if rule and rule not in label:
        label += f"[{rule}]"
    column = failure.get("column")
    if column:
        label += f" on {', '.join(column) if isinstance(column, list) else column}"
    return label


def summarise_failures(failures: list[dict[str, Any]]) -> str:
    """One line naming every failed expectation, errors first."""
    if not failures:
        return "all expectations passed"
    parts = []
    for severity in ("error", "warning"):
        labels = [expectation_label(f) for f in failures if f.get("severity", "error") == severity]
        if labels:
            parts.append(f"{severity}: " + "; ".join(labels))
    return "failed " + " | ".join(parts)
