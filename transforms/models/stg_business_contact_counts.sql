-- grain: one row per business (location_id, business_id);
-- the latest count wins.
with

source as (

    select * from ghl_analytics.src_business_contact_counts

),

renamed as (

    select
        nullif(trim(location_id), '') as location_id,
        nullif(trim(business_id), '') as business_id,
        api_contact_count,
        fetched_at,
        _dlt_load_id as load_id
    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by location_id, business_id
            order by fetched_at desc nulls last, load_id desc nulls last
        ) as row_num
    from renamed
    where business_id is not null

),

final as (

    select
        location_id,
        business_id,
        api_contact_count,
        fetched_at
    from ranked
    where row_num = 1

)

select * from final
