{#- groups of Vektis cost categories that border on the social domain -#}
{%- set groups = {
    'ggz': "'" ~ vektis_ggz_categories() | join("', '") ~ "'",
    'wijkverpleging': "'verpleging_en_verzorging'",
    'huisarts': "'huisarts_inschrijftarief', 'huisarts_consult', 'huisarts_mdz', 'huisarts_overig'",
    'medisch_specialistisch': "'medisch_specialistische_zorg'",
    'farmacie': "'farmacie'",
} -%}

with

zvw as (

    select * from {{ ref('fct_zvw_cost') }}

),

clients as (

    select * from {{ ref('fct_clients_area_year') }}

),

three_d as (

    select * from {{ ref('sociaal_domein_3d') }}

),

indicators as (

    select * from {{ ref('fct_area_indicator') }}

),

areas as (

    select * from {{ ref('dim_area') }}

),

-- the region: the gemeenten of the delivered area maps, as reference-year gemeenten
region as (

    select distinct reference_gemeente_code as gemeente_code
    from areas
    where area_level = 'gemeente' and reference_gemeente_code is not null

),

-- the national benchmark: every gemeente a (national) Vektis file holds
national as (

    select
        year,
        sum(cost) as nl_zvw_kosten_totaal,
        sum(case when cost_category = 'overig' then insured_persons else 0 end) as nl_verzekerden
    from zvw
    group by year

),

zvw_per_gemeente as (

    select
        year,
        reference_gemeente_code as gemeente_code,
        sum(cost) as zvw_kosten_totaal,
        {%- for name, categories in groups.items() %}
            sum(case when cost_category in ({{ categories }}) then cost else 0 end) as zvw_kosten_{{ name }},
        {%- endfor %}
        sum(case when cost_category = 'overig' then insured_persons else 0 end) as verzekerden
    from zvw
    group by year, reference_gemeente_code

),

social_domain as (

    select
        year,
        area_code as gemeente_code,
        sum(cost) as kosten_sociaal_domein,
        sum(case when domain = 'jeugd' then cost else 0 end) as kosten_jeugd,
        sum(case when domain = 'wmo' then cost else 0 end) as kosten_wmo,
        sum(case when domain = 'participatie' then cost else 0 end) as kosten_participatie
    from clients
    where area_level = 'reference_gemeente'
    group by year, area_code

),

multi_domain as (

    select
        year,
        coalesce(reference_gemeente_code, gemeente_code) as gemeente_code,
        sum(huishoudens_met_ondersteuning) as huishoudens_met_ondersteuning,
        sum(huishoudens_multi_domein) as huishoudens_multi_domein,
        sum(kosten_multi_domein) as kosten_multi_domein
    from three_d
    group by year, coalesce(reference_gemeente_code, gemeente_code)

),

inhabitants as (

    select
        indicators.year,
        coalesce(gemeenten.reference_gemeente_code, indicators.area_code) as gemeente_code,
        sum(indicators.value) as inwoners
    from indicators
    {{ join_area('gemeente', 'indicators.area_code', 'indicators.year') }}
    where indicators.area_level = 'gemeente' and indicators.indicator_code = 'inwoners'
    group by indicators.year, coalesce(gemeenten.reference_gemeente_code, indicators.area_code)

),

-- every year with social-domain cost or Zvw cost of a gemeente of the region
spine as (

    select
        year,
        gemeente_code
    from social_domain
    union
    select
        zvw_per_gemeente.year,
        zvw_per_gemeente.gemeente_code
    from zvw_per_gemeente
    inner join region
        on zvw_per_gemeente.gemeente_code = region.gemeente_code

),

gemeente_names as (

    {{ latest_area_attributes('gemeente') }}

),

final as (

    select
        spine.year,
        spine.gemeente_code,
        gemeente_names.area_name as gemeente_name,
        inhabitants.inwoners,
        zvw_per_gemeente.verzekerden,
        zvw_per_gemeente.zvw_kosten_totaal,
        {%- for name in groups %}
            zvw_per_gemeente.zvw_kosten_{{ name }},
        {%- endfor %}
        social_domain.kosten_sociaal_domein,
        social_domain.kosten_jeugd,
        social_domain.kosten_wmo,
        social_domain.kosten_participatie,
        multi_domain.huishoudens_met_ondersteuning,
        multi_domain.huishoudens_multi_domein,
        multi_domain.kosten_multi_domein,
        zvw_per_gemeente.zvw_kosten_totaal
        / nullif(zvw_per_gemeente.verzekerden, 0) as zvw_kosten_per_verzekerde,
        social_domain.kosten_sociaal_domein
        / nullif(inhabitants.inwoners, 0) as kosten_sociaal_domein_per_inwoner,
        social_domain.kosten_sociaal_domein * 100.0
        / nullif(social_domain.kosten_sociaal_domein + zvw_per_gemeente.zvw_kosten_totaal, 0)
            as aandeel_sociaal_domein_in_totaal,
        national.nl_verzekerden,
        national.nl_zvw_kosten_totaal,
        national.nl_zvw_kosten_totaal / nullif(national.nl_verzekerden, 0) as nl_zvw_kosten_per_verzekerde
    -- each part of the figures is keyed by gemeente and year, as the spine is
    from spine
    left join social_domain using (year, gemeente_code)
    left join zvw_per_gemeente using (year, gemeente_code)
    left join multi_domain using (year, gemeente_code)
    left join inhabitants using (year, gemeente_code)
    left join national
        on spine.year = national.year
    left join gemeente_names
        on spine.gemeente_code = gemeente_names.area_code

)

select * from final
