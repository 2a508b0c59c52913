-- grain: one row per custom field value of a contact
-- (location_id, contact_id, custom_field_id); the latest load wins.
with

source as (

    select * from ghl_analytics.src_contact_custom_fields

),

renamed as (

    select
        nullif(trim(location_id), '') as location_id,
        nullif(trim(contact_id), '') as contact_id,
        nullif(trim(field_id), '') as custom_field_id,
        value_text,
        _dlt_load_id as load_id
    from source
    where not coalesce(_replace_marker, false)

),

ranked as (

    select
        *,
        row_number() over (
            partition by location_id, contact_id, custom_field_id
            order by load_id desc nulls last, value_text asc
        ) as row_num
    from renamed
    where contact_id is not null and custom_field_id is not null

),

final as (

    select
        location_id,
        contact_id,
        custom_field_id,
        value_text
    from ranked
    where row_num = 1

)

select * from final
