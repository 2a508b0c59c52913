-- grain: one row per business (location_id, business_id); the latest row wins.
with

source as (

    select * from ghl_analytics.src_businesses

),

renamed as (

    select
        nullif(trim(id), '') as business_id,
        nullif(trim(location_id), '') as location_id,
        nullif(trim(name), '') as business_name,
        nullif(trim(phone), '') as phone_raw,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(website), '') as website,
        nullif(trim(address), '') as address,
        nullif(trim(city), '') as city,
        nullif(trim(state), '') as state,
        nullif(trim(country), '') as country,
        nullif(trim(postal_code), '') as postal_code,
        nullif(trim(description), '') as description,
        created_at,
        updated_at,
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
            partition by location_id, business_id
            order by updated_at desc nulls last, load_id desc nulls last
        ) as row_num
    from normalized
    where business_id is not null

),

final as (

    select
        business_id,
        location_id,
        business_name,
        phone_raw,
        phone_e164,
        email,
        website,
        address,
        city,
        state,
        country,
        postal_code,
        description,
        created_at,
        updated_at
    from ranked
    where row_num = 1

)

select * from final
