{% call vektis_zvw_staging('zvw_gemeente') %}
        gemeentecode as gemeente_code,
        gemeentenaam as gemeente_name_vektis,
{% endcall %}
