{{ config(alias='zvw_context') }}

with

context as (

    select * from {{ ref('zvw_context') }}

),

-- one row per gemeente-year: no published total above it, so only the threshold applies
flagged as (

    {{ disclosure_flags(
        'context',
        partition_by=['year', 'gemeente_code'],
        order_by=['gemeente_code'],
        counts=[
            'inwoners', 'verzekerden', 'huishoudens_met_ondersteuning', 'huishoudens_multi_domein', 'nl_verzekerden',
        ],
    ) }}

),

final as (

    select
        year,
        gemeente_code,
        gemeente_name,
        {{ publish_counts(['inwoners', 'verzekerden']) }},
        {{ publish_all_with_base([
            'zvw_kosten_totaal', 'zvw_kosten_ggz', 'zvw_kosten_wijkverpleging', 'zvw_kosten_huisarts',
            'zvw_kosten_medisch_specialistisch', 'zvw_kosten_farmacie',
        ], 'verzekerden', decimals=0) }},
        {{ publish_with_base('zvw_kosten_per_verzekerde', 'verzekerden') }} as zvw_kosten_per_verzekerde,
        {{ publish_counts(['huishoudens_met_ondersteuning', 'huishoudens_multi_domein']) }},
        {{ publish_with_base('round(kosten_sociaal_domein, 0)', 'huishoudens_met_ondersteuning') }}
            as kosten_sociaal_domein,
        {{ publish_with_base('round(kosten_multi_domein, 0)', 'huishoudens_multi_domein') }}
            as kosten_multi_domein,
        {{ publish_with_base('kosten_sociaal_domein_per_inwoner', 'inwoners') }}
            as kosten_sociaal_domein_per_inwoner,
        case
            when not verzekerden__hidden and not huishoudens_met_ondersteuning__hidden
                then aandeel_sociaal_domein_in_totaal
        end as aandeel_sociaal_domein_in_totaal,
        {{ publish_count('nl_verzekerden') }} as nl_verzekerden,
        {{ publish_with_base('round(nl_zvw_kosten_totaal, 0)', 'nl_verzekerden') }} as nl_zvw_kosten_totaal,
        {{ publish_with_base('nl_zvw_kosten_per_verzekerde', 'nl_verzekerden') }}
            as nl_zvw_kosten_per_verzekerde
    from flagged

)

select * from final
