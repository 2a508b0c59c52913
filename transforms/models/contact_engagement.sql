-- grain: one row per contact (location_id, contact_id), deleted ones included.
with

contacts as (

    select * from ghl_analytics.stg_contacts

),

tasks as (

    select * from ghl_analytics.stg_tasks

),

notes as (

    select * from ghl_analytics.stg_notes

),

activity as (

    select * from ghl_analytics.int_contact_activity

),

run_context as (

    select * from ghl_analytics.run_context

),

task_counts as (

    select
        tasks.location_id,
        tasks.contact_id,
        count(*) as count_tasks,
        count(*) filter (where not tasks.is_completed) as count_tasks_open,
        count(*) filter (where tasks.is_completed) as count_tasks_completed,
        count(*) filter (
            where not tasks.is_completed
            and tasks.due_at < run_context.as_of_at
        ) as count_tasks_overdue
    from tasks
    cross join run_context
    where not tasks.is_deleted
    group by tasks.location_id, tasks.contact_id

),

note_counts as (

    select
        location_id,
        contact_id,
        count(*) as count_notes
    from notes
    where not is_deleted
    group by location_id, contact_id

),

last_activity as (

    select
        location_id,
        contact_id,
        max(activity_at) as last_activity_at
    from activity
    group by location_id, contact_id

),

joined as (

    select
        contacts.location_id,
        contacts.contact_id,
        contacts.is_deleted,
        coalesce(task_counts.count_tasks, 0) as count_tasks,
        coalesce(task_counts.count_tasks_open, 0) as count_tasks_open,
        coalesce(task_counts.count_tasks_completed, 0)
            as count_tasks_completed,
        coalesce(task_counts.count_tasks_overdue, 0) as count_tasks_overdue,
        coalesce(note_counts.count_notes, 0) as count_notes,
        last_activity.last_activity_at,
        run_context.as_of_at
    from contacts
    cross join run_context
    left join task_counts
        on
            contacts.location_id = task_counts.location_id
            and contacts.contact_id = task_counts.contact_id
    left join note_counts
        on
            contacts.location_id = note_counts.location_id
            and contacts.contact_id = note_counts.contact_id
    left join last_activity
        on
            contacts.location_id = last_activity.location_id
            and contacts.contact_id = last_activity.contact_id

),

scored as (

    select
        *,
        case
            when last_activity_at > as_of_at - interval '30 days' then 40
            when last_activity_at > as_of_at - interval '90 days' then 20
            else 0
        end as recency_points,
        least(30, 10 * count_tasks_completed) as completed_points,
        least(20, 5 * count_notes) as note_points,
        least(10, 5 * (count_tasks_open - count_tasks_overdue))
            as upcoming_points,
        least(20, 5 * count_tasks_overdue) as overdue_penalty
    from joined

),

final as (

    select
        location_id,
        contact_id,
        is_deleted,
        count_tasks,
        count_tasks_open,
        count_tasks_completed,
        count_tasks_overdue,
        case
            when count_tasks > 0
                then cast(
                    cast(count_tasks_completed as double precision)
                    / count_tasks as decimal(5, 4)
                )
        end as task_completion_rate,
        count_notes,
        last_activity_at,
        cast(as_of_at as date)
        - cast(last_activity_at as date) as days_since_last_activity,
        case
            when is_deleted then 0
            else
                cast(greatest(
                    0,
                    recency_points
                    + completed_points
                    + note_points
                    + upcoming_points
                    - overdue_penalty
                ) as integer)
        end as engagement_score
    from scored

)

select * from final
