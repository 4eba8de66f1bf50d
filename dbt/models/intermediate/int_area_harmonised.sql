{#-
    Every area code of every year mapped to the area division of the reference year (the latest
    year in the data), so that a series survives mergers and re-codings. See the model's YAML for
    the method; in short: postcode-6 links each buurt of a year to the buurt(en) of the reference
    year, wijken and gemeenten follow from their buurten weighted by population, and codes without
    postcode coverage fall back on the same code (identity) or on ref_herindelingen (gemeenten).
-#}

with recursive

kwb as (

    select * from {{ ref('stg_cbs__kwb') }}

),

boundaries as (

    select * from {{ ref('stg_cbs__gebieden') }}

),

postcodes as (

    select * from {{ ref('stg_cbs__pc6_gwb') }}

),

herindelingen as (

    select * from {{ ref('ref_herindelingen') }}

),

-- every area code that exists in a year, with its level and gemeente
areas as (

    select
        area_code,
        area_level,
        gemeente_code,
        year
    from kwb

    union

    select
        area_code,
        area_level,
        gemeente_code,
        year
    from boundaries

),

reference as (

    select max(year) as reference_year
    from areas

),

reference_areas as (

    select
        areas.area_code,
        areas.area_level
    from areas
    inner join reference
        on areas.year = reference.reference_year

),

population as (

    select
        area_code,
        year,
        coalesce(inwoners, 0) as inwoners
    from kwb

),

reference_postcodes as (

    select
        postcodes.postcode6,
        postcodes.buurt_code,
        postcodes.wijk_code,
        postcodes.gemeente_code
    from postcodes
    inner join reference
        on postcodes.year = reference.reference_year

),

-- one row per buurt of a year and buurt of the reference year sharing postcodes
buurt_pieces as (

    select
        postcodes.year,
        postcodes.buurt_code,
        postcodes.wijk_code,
        postcodes.gemeente_code,
        reference_postcodes.buurt_code as reference_buurt_code,
        reference_postcodes.wijk_code as reference_wijk_code,
        reference_postcodes.gemeente_code as reference_gemeente_code,
        count(*) as n_postcodes
    from postcodes
    inner join reference_postcodes
        on postcodes.postcode6 = reference_postcodes.postcode6
    group by
        postcodes.year,
        postcodes.buurt_code,
        postcodes.wijk_code,
        postcodes.gemeente_code,
        reference_postcodes.buurt_code,
        reference_postcodes.wijk_code,
        reference_postcodes.gemeente_code

),

-- a buurt's inhabitants are spread over its pieces by their share of its postcodes
buurt_pieces_weighted as (

    select
        buurt_pieces.*,
        buurt_pieces.n_postcodes * 1.0
        / sum(buurt_pieces.n_postcodes) over (
            partition by buurt_pieces.year, buurt_pieces.buurt_code
        ) as postcode_share,
        coalesce(population.inwoners, 0) * buurt_pieces.n_postcodes * 1.0
        / sum(buurt_pieces.n_postcodes) over (
            partition by buurt_pieces.year, buurt_pieces.buurt_code
        ) as piece_inwoners
    from buurt_pieces
    left join population
        on
            buurt_pieces.buurt_code = population.area_code
            and buurt_pieces.year = population.year

),

pieces_per_level as (

    select
        year,
        'buurt' as area_level,
        buurt_code as area_code,
        reference_buurt_code as reference_area_code,
        sum(piece_inwoners) as piece_inwoners,
        sum(n_postcodes) as n_postcodes
    from buurt_pieces_weighted
    group by year, buurt_code, reference_buurt_code

    union all

    select
        year,
        'wijk' as area_level,
        wijk_code as area_code,
        reference_wijk_code as reference_area_code,
        sum(piece_inwoners) as piece_inwoners,
        sum(n_postcodes) as n_postcodes
    from buurt_pieces_weighted
    group by year, wijk_code, reference_wijk_code

    union all

    select
        year,
        'gemeente' as area_level,
        gemeente_code as area_code,
        reference_gemeente_code as reference_area_code,
        sum(piece_inwoners) as piece_inwoners,
        sum(n_postcodes) as n_postcodes
    from buurt_pieces_weighted
    group by year, gemeente_code, reference_gemeente_code

),

-- population-weighted share; the postcode share where the area has no known inhabitants
postcode_links as (

    select
        year,
        area_level,
        area_code,
        reference_area_code,
        case
            when sum(piece_inwoners) over (partition by year, area_code) > 0
                then piece_inwoners / sum(piece_inwoners) over (partition by year, area_code)
            else n_postcodes * 1.0 / sum(n_postcodes) over (partition by year, area_code)
        end as weight,
        'postcode' as method
    from pieces_per_level

),

-- gemeente codes through the chain of herindelingen, each step with its share
herindeling_steps as (

    select
        old_code,
        new_code,
        1.0 / count(*) over (partition by old_code) as weight
    from herindelingen

),

herindeling_chain (old_code, new_code, weight, depth) as (

    select
        old_code,
        new_code,
        weight,
        1 as depth
    from herindeling_steps

    union all

    select
        herindeling_chain.old_code,
        herindeling_steps.new_code,
        herindeling_chain.weight * herindeling_steps.weight as weight,
        herindeling_chain.depth + 1 as depth
    from herindeling_chain
    inner join herindeling_steps
        on herindeling_chain.new_code = herindeling_steps.old_code
    where herindeling_chain.depth < 10

),

unlinked as (

    select
        areas.area_code,
        areas.area_level,
        areas.year
    from areas
    where not exists (
        select 1
        from postcode_links
        where
            postcode_links.area_code = areas.area_code
            and postcode_links.year = areas.year
    )

),

herindeling_links as (

    select
        unlinked.year,
        unlinked.area_level,
        unlinked.area_code,
        herindeling_chain.new_code as reference_area_code,
        sum(herindeling_chain.weight) as weight,
        'herindeling' as method
    from unlinked
    inner join herindeling_chain
        on unlinked.area_code = herindeling_chain.old_code
    inner join reference_areas
        on herindeling_chain.new_code = reference_areas.area_code
    where
        unlinked.area_level = 'gemeente'
        and unlinked.area_code not in (select existing.area_code from reference_areas as existing)
    group by unlinked.year, unlinked.area_level, unlinked.area_code, herindeling_chain.new_code

),

-- anything else keeps its own code: identity when it still exists, unresolved otherwise
fallback_links as (

    select
        unlinked.year,
        unlinked.area_level,
        unlinked.area_code,
        unlinked.area_code as reference_area_code,
        1.0 as weight,
        case
            when unlinked.area_code in (select existing.area_code from reference_areas as existing)
                then 'identity'
            else 'unresolved'
        end as method
    from unlinked
    where not exists (
        select 1
        from herindeling_links
        where
            herindeling_links.area_code = unlinked.area_code
            and herindeling_links.year = unlinked.year
    )

),

links as (

    select * from postcode_links
    union all
    select * from herindeling_links
    union all
    select * from fallback_links

),

final as (

    select
        links.year,
        links.area_level,
        links.area_code,
        reference.reference_year,
        links.reference_area_code,
        'GM' || substr(links.reference_area_code, 3, 4) as reference_gemeente_code,
        cast(links.weight as double precision) as weight,
        links.method,
        links.area_code <> links.reference_area_code or links.weight < 1 as is_changed
    from links
    cross join reference

)

select * from final
