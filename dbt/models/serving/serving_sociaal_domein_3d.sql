{{ config(alias='sociaal_domein_3d') }}
{%- set counts = [
    'huishoudens_met_ondersteuning', 'huishoudens_1_domein', 'huishoudens_2_domeinen',
    'huishoudens_3_domeinen', 'huishoudens_multi_domein',
] %}

with

three_d as (

    select * from {{ ref('sociaal_domein_3d') }}
    where wijk_code is not null

),

-- the gemeente totals of every count are published (zvw_context, raadsrapportage), and the parts of
-- a row add up: households with support = 1 + 2 + 3 domains, multi-domain = 2 + 3 domains
flagged as (

    {{ disclosure_flags(
        'three_d',
        partition_by=['year', 'gemeente_code'],
        order_by=['wijk_code'],
        counts=counts,
        row_totals=[
            ('huishoudens_met_ondersteuning',
                ['huishoudens_1_domein', 'huishoudens_2_domeinen', 'huishoudens_3_domeinen']),
            ('huishoudens_met_ondersteuning', ['huishoudens_1_domein', 'huishoudens_multi_domein']),
            ('huishoudens_multi_domein', ['huishoudens_2_domeinen', 'huishoudens_3_domeinen']),
        ],
    ) }}

),

final as (

    select
        year,
        gemeente_code,
        gemeente_name,
        wijk_code,
        wijk_name,
        {{ publish_counts(counts) }},
        {{ publish_with_base('round(kosten_totaal, 0)', 'huishoudens_met_ondersteuning') }} as kosten_totaal,
        {{ publish_with_base('round(kosten_multi_domein, 0)', 'huishoudens_multi_domein') }}
            as kosten_multi_domein,
        case
            when not huishoudens_met_ondersteuning__hidden
                then {{ publish_with_base('aandeel_kosten_multi_domein', 'huishoudens_multi_domein') }}
        end as aandeel_kosten_multi_domein
    from flagged

)

select * from final
