{#-
    The shapes the municipal deliveries share (staging/gemeente): the monthly files of every domain
    (jeugd, wmo, participatie) describe the client in the same pseudonymised columns and a case's
    dates alike; the care domains add volume and cost alike. Marts read the domains back in one
    shape through gemeente_deliveries.
-#}


{#-
    The staging model of a monthly municipal export (jeugd, wmo, participatie; the files of
    dagster_project/sources/municipal.py): the raw table `gemeente.<domain>` renamed, one row per
    delivered row. Every export keys a row by gemeente, month (`periode`) and the domain's
    `case_id` (the select item naming it), describes the client alike and carries its batch; the
    domain's own columns are the body of the call, each item followed by a comma:

        {% call gemeente_monthly_staging('wmo', 'voorzieningnummer as voorziening_id') %}
            -- care
            ...,
        {% endcall %}
-#}
{% macro gemeente_monthly_staging(domain, case_id) -%}
with

source as (

    select * from {{ source('gemeente', domain) }}

),

renamed as (

    select
        -- keys
        gemeentecode as gemeente_code,
        {{ month_of_period('periode') }} as month,
        -- the month as delivered (`yyyy-mm`): a join on it lets DuckDB skip the row groups of
        -- other months, which a join on the month computed from it cannot
        periode as period_key,
        {{ case_id }},

        -- client (pseudonymised at ingestion)
        {{ gemeente_client_columns() }},
{{ caller() }}
        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
{%- endmacro %}


{#- The first day of the month of a delivered period (`yyyy-mm`). -#}
{% macro month_of_period(period_key) -%}
    cast({{ period_key }} || '-01' as date)
{%- endmacro %}


{#- The client of a delivery row, as ingestion left it: pseudonyms, no BSN, birth date or address. -#}
{% macro gemeente_client_columns() -%}
    bsn_pseudoniem as client_pseudonym,
    huishouden_pseudoniem as household_pseudonym,
    postcode4,
    buurt_code,
    wijk_code,
    cast(geboortejaar as integer) as birth_year,
    geslacht as sex
{%- endmacro %}


{#- How a case ran: its dates and the reason it ended. -#}
{% macro gemeente_case_period_columns() -%}
    cast(startdatum as date) as start_date,
    cast(einddatum as date) as end_date,
    reden_beeindiging
{%- endmacro %}


{#- Volume and cost of a care delivery row, in its unit and euros. -#}
{% macro care_volume_cost_columns() -%}
    eenheid as unit,
    cast(volume as decimal(18, 2)) as volume,
    cast(tarief as decimal(18, 2)) as tarief,
    cast(bedrag as decimal(18, 2)) as bedrag
{%- endmacro %}


{#-
    The staged deliveries of `domains` stacked in one shape: a `domain` column, then `columns`.
    `expressions` maps a domain to the expression of each column it names differently or lacks
    (`cast(null as varchar)`); the rest are read as named. A body of a CTE, one select per domain.
-#}
{% macro gemeente_deliveries(domains, columns, expressions={}) -%}
    {%- for domain in domains %}
        {%- set own = expressions.get(domain, {}) %}
        select
            '{{ domain }}' as domain,
            {%- for column in columns %}
                {{ own[column] ~ ' as ' if column in own }}{{ column }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ ref('stg_gemeente__' ~ domain) }}
        {%- if not loop.last %}

        union all
        {%- endif %}
    {%- endfor %}
{%- endmacro %}
