{#- The shapes CBS's area tables share (staging/cbs). -#}


{#- The keys of a row of a CBS table by wijk and buurt (kwb, wijk_zorg): the region code and its
    level, the year, and the gemeente the code lies in (digits 3-6 of every region code). -#}
{% macro cbs_area_keys() -%}
    wijkenenbuurten as area_code,
    cast(_period as integer) as year,
    lower(soortregio) as area_level,
    'GM' || substr(wijkenenbuurten, 3, 4) as gemeente_code
{%- endmacro %}
