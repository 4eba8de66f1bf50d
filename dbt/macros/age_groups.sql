{#-
    The age groups of `dim_age_group`, defined once. Facts label an age with `age_group_code`, a
    plain `case` on the integer: a range join to the dimension cost as much as the rest of
    `fct_client_month` together (nationally about a hundred million rows).
-#}


{% macro age_groups() -%}
    {{ return([
        ('00-03', '0-3 jaar', 0, 3),
        ('04-11', '4-11 jaar', 4, 11),
        ('12-17', '12-17 jaar', 12, 17),
        ('18-26', '18-26 jaar', 18, 26),
        ('27-44', '27-44 jaar', 27, 44),
        ('45-64', '45-64 jaar', 45, 64),
        ('65-74', '65-74 jaar', 65, 74),
        ('75-84', '75-84 jaar', 75, 84),
        ('85+', '85 jaar en ouder', 85, 150),
    ]) }}
{%- endmacro %}


{#- The `dim_age_group.age_group_code` of an age in whole years (null outside every group). -#}
{% macro age_group_code(age) -%}
    case
        {%- for code, label, min_age, max_age in age_groups() %}
            when {{ age }} between {{ min_age }} and {{ max_age }} then '{{ code }}'
        {%- endfor %}
    end
{%- endmacro %}
