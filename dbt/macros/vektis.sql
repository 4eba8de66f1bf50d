{#- The cost categories of Vektis Zvw open data over the years (2015-2023 layouts), as the raw
    tables hold them, and the rest bucket of categories no layout listed (`vektis_layout.py`). -#}
{% macro vektis_cost_categories() -%}
    {{ return([
        'medisch_specialistische_zorg', 'farmacie', 'huisarts_inschrijftarief', 'huisarts_consult',
        'huisarts_mdz', 'huisarts_overig', 'hulpmiddelen', 'mondzorg', 'paramedische_zorg_fysiotherapie',
        'paramedische_zorg_overig', 'ziekenvervoer_zittend', 'ziekenvervoer_liggend', 'kraamzorg',
        'verloskundige_zorg', 'generalistische_basis_ggz', 'specialistische_ggz', 'langdurige_ggz',
        'grensoverschrijdende_zorg', 'eerstelijns_ondersteuning', 'geriatrische_revalidatiezorg',
        'eerstelijnsverblijf', 'verpleging_en_verzorging', 'gzsp', 'integrale_geboortezorg',
        'innovatiegelden_ggz', 'consulten_ggz', 'intramuraal_verblijf_ggz', 'overige_prestaties_ggz',
        'overig', 'onbekende_categorie',
    ]) }}
{%- endmacro %}

{#- The categories of mental health care (GGZ), before and after the funding model of 2022. -#}
{% macro vektis_ggz_categories() -%}
    {{ return([
        'generalistische_basis_ggz', 'specialistische_ggz', 'langdurige_ggz', 'consulten_ggz',
        'intramuraal_verblijf_ggz', 'overige_prestaties_ggz', 'innovatiegelden_ggz',
    ]) }}
{%- endmacro %}

{#- Every `kosten_<category>` column typed as euros, one select item per category. -#}
{% macro vektis_cost_columns() -%}
    {%- for category in vektis_cost_categories() %}
        cast(kosten_{{ category }} as decimal(18, 2)) as kosten_{{ category }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The total cost of a delivered row: its categories added up, a missing one counting zero. -#}
{% macro vektis_total_cost() -%}
    {%- for category in vektis_cost_categories() -%}
        coalesce(kosten_{{ category }}, 0){{ ' + ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#-
    The staging model of a Vektis Zvw open-data table (`vektis.<table>`: the same figures by
    gemeente or by postcode-3): one row per year, area, sex and age class with the insured and
    their cost per category in euros. The body of the call names the area, each item followed by
    a comma:

        {% call vektis_zvw_staging('zvw_postcode3') %}
            postcode_3 as postcode3,
        {% endcall %}
-#}
{% macro vektis_zvw_staging(table) -%}
with

source as (

    select * from {{ source('vektis', table) }}

),

renamed as (

    select
        -- keys
        jaar as year,
        {{ caller() | trim }}
        geslacht as sex,
        leeftijdsklasse as age_class,

        -- insured
        cast(aantal_bsn as integer) as insured_persons,
        aantal_verzekerdejaren as insured_years,

        -- costs in euros
        {{ vektis_cost_columns() }},

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
{%- endmacro %}
