"""Outcome analytics: Python assets between the marts and the serving layer (group `analytics`).

Each module is one analysis with its method in its docstring; each reads the marts of the build
warehouse and writes its tables into schema `analytics`, which the serving models read back as
dbt sources and publish with disclosure control.
"""

import dagster as dg

from dagster_project.analytics.expected_care_use import expected_care_use_models
from dagster_project.analytics.intervention_effects import intervention_effect
from dagster_project.analytics.peers import benchmark
from dagster_project.analytics.population_funding import population_funding_allocation

defs = dg.Definitions(assets=[expected_care_use_models, intervention_effect, benchmark, population_funding_allocation])
