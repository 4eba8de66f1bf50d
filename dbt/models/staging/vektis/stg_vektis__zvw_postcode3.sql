with

source as (

    select * from {{ source('vektis', 'zvw_postcode3') }}

),

renamed as (

    select
        -- keys
        jaar as year,
        postcode_3 as postcode3,
        geslacht as sex,
        leeftijdsklasse as age_class,

        -- insured
        cast(aantal_bsn as integer) as insured_persons,
        aantal_verzekerdejaren as insured_years,

        -- costs in euros
        cast(kosten_medisch_specialistische_zorg as decimal(18, 2)) as kosten_medisch_specialistische_zorg,
        cast(kosten_farmacie as decimal(18, 2)) as kosten_farmacie,
        cast(kosten_huisarts_inschrijftarief as decimal(18, 2)) as kosten_huisarts_inschrijftarief,
        cast(kosten_huisarts_consult as decimal(18, 2)) as kosten_huisarts_consult,
        cast(kosten_huisarts_mdz as decimal(18, 2)) as kosten_huisarts_mdz,
        cast(kosten_huisarts_overig as decimal(18, 2)) as kosten_huisarts_overig,
        cast(kosten_mondzorg as decimal(18, 2)) as kosten_mondzorg,
        cast(
            kosten_paramedische_zorg_fysiotherapie as decimal(18, 2)
        ) as kosten_paramedische_zorg_fysiotherapie,
        cast(kosten_paramedische_zorg_overig as decimal(18, 2)) as kosten_paramedische_zorg_overig,
        cast(kosten_generalistische_basis_ggz as decimal(18, 2)) as kosten_generalistische_basis_ggz,
        cast(kosten_gespecialiseerde_ggz as decimal(18, 2)) as kosten_gespecialiseerde_ggz,
        cast(kosten_hulpmiddelen as decimal(18, 2)) as kosten_hulpmiddelen,
        cast(kosten_ziekenvervoer_zittend as decimal(18, 2)) as kosten_ziekenvervoer_zittend,
        cast(kosten_ziekenvervoer_liggend as decimal(18, 2)) as kosten_ziekenvervoer_liggend,
        cast(kosten_kraamzorg as decimal(18, 2)) as kosten_kraamzorg,
        cast(kosten_verloskundige_zorg as decimal(18, 2)) as kosten_verloskundige_zorg,
        cast(kosten_grensoverschrijdende_zorg as decimal(18, 2)) as kosten_grensoverschrijdende_zorg,
        cast(kosten_geriatrische_revalidatiezorg as decimal(18, 2)) as kosten_geriatrische_revalidatiezorg,
        cast(kosten_verpleging_en_verzorging as decimal(18, 2)) as kosten_verpleging_en_verzorging,
        cast(kosten_eerstelijns_verblijf as decimal(18, 2)) as kosten_eerstelijns_verblijf,
        cast(kosten_overig as decimal(18, 2)) as kosten_overig,

        -- lineage
        _batch_id as batch_id

    from source

)

select * from renamed
