-- grain: one row per task (location_id, task_id); the latest load wins.
with

source as (

    select * from ghl_analytics.src_tasks

),

renamed as (

    select
        nullif(trim(id), '') as task_id,
        nullif(trim(location_id), '') as location_id,
        nullif(trim(contact_id), '') as contact_id,
        nullif(trim(title), '') as title,
        nullif(trim(body), '') as body,
        nullif(trim(assigned_to), '') as assigned_user_id,
        due_date as due_at,
        coalesce(completed, false) as is_completed,
        coalesce(is_deleted, false) or deleted_at is not null as is_deleted,
        deleted_at,
        _dlt_load_id as load_id
    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by location_id, task_id
            order by load_id desc nulls last
        ) as row_num
    from renamed
    where task_id is not null

),

final as (

    select
        task_id,
        location_id,
        contact_id,
        title,
        body,
        assigned_user_id,
        due_at,
        is_completed,
        is_deleted,
        deleted_at
    from ranked
    where row_num = 1

)

select * from final
