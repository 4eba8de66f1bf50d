{% call gemeente_monthly_staging('wmo', 'voorzieningnummer as voorziening_id') %}
        -- care
        productcategorie as productcategorie_code,
        productcode,
        leveringsvorm,
        agb_code,
        aanbieder as aanbieder_name,
        {{ gemeente_case_period_columns() }},

        -- volume and cost
        {{ care_volume_cost_columns() }},
{% endcall %}
