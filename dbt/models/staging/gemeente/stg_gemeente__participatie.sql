{% call gemeente_monthly_staging('participatie', 'uitkeringsnummer as uitkering_id') %}
        -- benefit
        regeling,
        leefvorm,
        {{ gemeente_case_period_columns() }},
        cast(bedrag_uitkering as decimal(18, 2)) as bedrag,
{% endcall %}
