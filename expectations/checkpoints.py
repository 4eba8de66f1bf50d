"""The audit checkpoint: every validation definition of a run, plus a Data Docs update."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import great_expectations as gx
from great_expectations.checkpoint import UpdateDataDocsAction

CHECKPOINT_NAME = "mmr_audit"


def checkpoint_for(
    context: Any,
    validation_definitions: Sequence[gx.ValidationDefinition],
    *,
    result_format: dict[str, Any] | str = "SUMMARY",
    name: str = CHECKPOINT_NAME,
) -> gx.Checkpoint:
    """Store (add or update) the audit checkpoint over ``validation_definitions``."""
    return context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=name,
            validation_definitions=list(validation_definitions),
            actions=[UpdateDataDocsAction(name="update_data_docs", site_names=["local_site"])],
            result_format=result_format,
        )
    )
