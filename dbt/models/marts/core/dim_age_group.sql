with

age_groups as (

    {%- for code, label, min_age, max_age in age_groups() %}
        select
            '{{ code }}' as age_group_code,
            '{{ label }}' as age_group_name,
            {{ min_age }} as min_age,
            {{ max_age }} as max_age,
            {{ loop.index }} as sort_order
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

final as (

    select
        age_group_code,
        age_group_name,
        min_age,
        max_age,
        sort_order,
        max_age <= 17 as is_youth
    from age_groups

)

select * from final
