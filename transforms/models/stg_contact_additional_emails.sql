-- grain: one row per additional email of a contact
-- (location_id, contact_id, email).
with

source as (

    select * from ghl_analytics.src_contact_additional_emails

),

renamed as (

    select
        nullif(trim(location_id), '') as location_id,
        nullif(trim(contact_id), '') as contact_id,
        nullif(lower(trim(email)), '') as email
    from source
    where not coalesce(_replace_marker, false)

),

final as (

    select distinct
        location_id,
        contact_id,
        email
    from renamed
    where contact_id is not null and email is not null

)

select * from final
