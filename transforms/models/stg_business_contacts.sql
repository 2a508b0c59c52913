-- grain: one row per link (location_id, business_id, contact_id).
with

source as (

    select * from ghl_analytics.src_business_contacts

),

renamed as (

    select
        nullif(trim(location_id), '') as location_id,
        nullif(trim(business_id), '') as business_id,
        nullif(trim(contact_id), '') as contact_id
    from source
    where not coalesce(_replace_marker, false)

),

final as (

    select distinct
        location_id,
        business_id,
        contact_id
    from renamed
    where business_id is not null and contact_id is not null

)

select * from final
