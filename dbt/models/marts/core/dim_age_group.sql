{%- set age_groups = [
    ('00-03', '0-3 jaar', 0, 3),
    ('04-11', '4-11 jaar', 4, 11),
    ('12-17', '12-17 jaar', 12, 17),
    ('18-26', '18-26 jaar', 18, 26),
    ('27-44', '27-44 jaar', 27, 44),
    ('45-64', '45-64 jaar', 45, 64),
    ('65-74', '65-74 jaar', 65, 74),
    ('75-84', '75-84 jaar', 75, 84),
    ('85+', '85 jaar en ouder', 85, 150),
] -%}

with

age_groups as (

    {%- for code, label, min_age, max_age in age_groups %}
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
