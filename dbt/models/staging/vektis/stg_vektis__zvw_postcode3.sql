{% call vektis_zvw_staging('zvw_postcode3') %}
        postcode_3 as postcode3,
{% endcall %}
