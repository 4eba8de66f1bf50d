{#- The cost categories of Vektis Zvw open data, as delivered (per gemeente and per postcode-3 alike). -#}
{% macro vektis_cost_categories() -%}
    {{ return([
        'medisch_specialistische_zorg', 'farmacie', 'huisarts_inschrijftarief', 'huisarts_consult',
        'huisarts_mdz', 'huisarts_overig', 'mondzorg', 'paramedische_zorg_fysiotherapie',
        'paramedische_zorg_overig', 'generalistische_basis_ggz', 'gespecialiseerde_ggz', 'hulpmiddelen',
        'ziekenvervoer_zittend', 'ziekenvervoer_liggend', 'kraamzorg', 'verloskundige_zorg',
        'grensoverschrijdende_zorg', 'geriatrische_revalidatiezorg', 'verpleging_en_verzorging',
        'eerstelijns_verblijf', 'overig',
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
