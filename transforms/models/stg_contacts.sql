-- grain: one row per contact (location_id, contact_id); the latest row wins.
with

source as (

    select * from ghl_analytics.src_contacts

),

renamed as (

    select
        nullif(trim(id), '') as contact_id,
        nullif(trim(location_id), '') as location_id,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        nullif(trim(contact_name), '') as contact_name,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(phone), '') as phone_raw,
        nullif(trim(phone_label), '') as phone_label,
        nullif(trim(company_name), '') as company_name,
        nullif(trim(business_name), '') as business_name,
        nullif(trim(business_id), '') as business_id,
        nullif(trim(assigned_to), '') as assigned_user_id,
        nullif(trim(source), '') as contact_source,
        nullif(trim(type), '') as contact_type,
        coalesce(dnd, false) as is_dnd,
        nullif(trim(timezone), '') as time_zone,
        nullif(trim(website), '') as website,
        nullif(trim(address), '') as address,
        nullif(trim(city), '') as city,
        nullif(trim(state), '') as state,
        nullif(trim(country), '') as country,
        nullif(trim(postal_code), '') as postal_code,
        nullif(trim(date_of_birth), '') as date_of_birth,
        date_added as added_at,
        date_updated as updated_at,
        coalesce(is_deleted, false) or deleted_at is not null as is_deleted,
        deleted_at,
        _dlt_load_id as load_id
    from source

),

phones as (

    select
        *,
        regexp_replace(phone_raw, '[^0-9]', '', 'g') as phone_digits
    from renamed

),

normalized as (

    select
        *,
        coalesce(
            contact_name,
            nullif(
                trim(
                    coalesce(first_name, '') || ' ' || coalesce(last_name, '')
                ),
                ''
            )
        ) as full_name,
        case
            when
                left(phone_raw, 1) = '+'
                and length(phone_digits) between 8 and 15
                then '+' || phone_digits
            when left(phone_raw, 1) = '+' then null
            when length(phone_digits) = 10 then '+1' || phone_digits
            when length(phone_digits) = 11 and left(phone_digits, 1) = '1'
                then '+' || phone_digits
        end as phone_e164
    from phones

),

ranked as (

    select
        *,
        row_number() over (
            partition by location_id, contact_id
            order by updated_at desc nulls last, load_id desc nulls last
        ) as row_num
    from normalized
    where contact_id is not null

),

final as (

    select
        contact_id,
        location_id,
        first_name,
        last_name,
        full_name,
        email,
        phone_raw,
        phone_e164,
        phone_label,
        company_name,
        business_name,
        business_id,
        assigned_user_id,
        contact_source,
        contact_type,
        is_dnd,
        time_zone,
        website,
        address,
        city,
        state,
        country,
        postal_code,
        date_of_birth,
        added_at,
        updated_at,
        is_deleted,
        deleted_at
    from ranked
    where row_num = 1

)

select * from final
