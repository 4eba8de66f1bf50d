{#- Trend and benchmark of a long indicator relation (year, gemeente_code, regio_code, indicator,
    hoger_is_beter, waarde): the value of the year before, the change, the average of the region
    and of all gemeenten in the warehouse, and the position in the region (1 = best; for an
    indicator without a direction, 1 = highest). Averages and positions only use the values that
    are present, so applied after suppression they reveal nothing that is hidden. -#}
{% macro raadsrapportage_benchmarks(relation) -%}
    select
        with_previous.*,
        with_previous.waarde - with_previous.vorig_jaar as verandering,
        avg(with_previous.waarde) over (
            partition by with_previous.year, with_previous.indicator, with_previous.regio_code
        ) as regio_gemiddelde,
        avg(with_previous.waarde) over (
            partition by with_previous.year, with_previous.indicator
        ) as nederland_gemiddelde,
        case
            when with_previous.waarde is not null
                then rank() over (
                    partition by with_previous.year, with_previous.indicator, with_previous.regio_code
                    order by
                        case
                            when with_previous.hoger_is_beter = false then -with_previous.waarde
                            else with_previous.waarde
                        end desc nulls last
                )
        end as positie_in_regio,
        count(with_previous.waarde) over (
            partition by with_previous.year, with_previous.indicator, with_previous.regio_code
        ) as n_in_regio
    from (
        select
            current_year.*,
            previous_year.waarde as vorig_jaar
        from {{ relation }} as current_year
        left join {{ relation }} as previous_year
            on
                current_year.gemeente_code = previous_year.gemeente_code
                and current_year.indicator = previous_year.indicator
                and current_year.year = previous_year.year + 1
    ) as with_previous
{%- endmacro %}
