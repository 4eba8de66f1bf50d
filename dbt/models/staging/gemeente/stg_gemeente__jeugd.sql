{% call gemeente_monthly_staging('jeugd', 'trajectnummer as traject_id') %}
        -- care
        verwijzer as verwijzer_code,
        productcategorie as productcategorie_code,
        productcode,
        agb_code,
        aanbieder as aanbieder_name,
        {{ gemeente_case_period_columns() }},
        doel_bereikt,

        -- volume and cost
        {{ care_volume_cost_columns() }},
{% endcall %}
