"""The audit checkpoint: every validation definition of a run. It has no Data Docs action: that
action renders the site's index once per validation result, so the runner renders the run's pages
and the index once, after the checkpoint (`expectations.runner`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import great_expectations as gx

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
            actions=[],
            result_format=result_format,
        )
    )
