-- grain: one row per note (location_id, note_id); the latest load wins.
with

source as (

    select * from ghl_analytics.src_notes

),

renamed as (

    select
        nullif(trim(id), '') as note_id,
        nullif(trim(location_id), '') as location_id,
        nullif(trim(contact_id), '') as contact_id,
        nullif(trim(title), '') as title,
        nullif(trim(body), '') as body,
        nullif(trim(user_id), '') as user_id,
        date_added as added_at,
        coalesce(is_deleted, false) or deleted_at is not null as is_deleted,
        deleted_at,
        _dlt_load_id as load_id
    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by location_id, note_id
            order by load_id desc nulls last
        ) as row_num
    from renamed
    where note_id is not null

),

final as (

    select
        note_id,
        location_id,
        contact_id,
        title,
        body,
        user_id,
        added_at,
        is_deleted,
        deleted_at
    from ranked
    where row_num = 1

)

select * from final
