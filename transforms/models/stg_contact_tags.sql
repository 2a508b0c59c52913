-- grain: one row per tag of a contact (location_id, contact_id, tag).
with

source as (

    select * from ghl_analytics.src_contact_tags

),

renamed as (

    select
        nullif(trim(location_id), '') as location_id,
        nullif(trim(contact_id), '') as contact_id,
        nullif(trim(tag), '') as tag
    from source
    where not coalesce(_replace_marker, false)

),

final as (

    select distinct
        location_id,
        contact_id,
        tag
    from renamed
    where contact_id is not null and tag is not null

)

select * from final
