-- grain: one row per contact (location_id, contact_id), deleted ones included.
with

contacts as (

    select * from ghl_analytics.stg_contacts

),

events as (

    select * from ghl_analytics.int_contact_events

),

run_context as (

    select * from ghl_analytics.run_context

),

event_counts as (

    select
        events.location_id,
        events.contact_id,
        count(*) filter (where events.event_type = 'task') as count_tasks,
        count(*) filter (
            where events.event_type = 'task' and not events.is_completed
        ) as count_tasks_open,
        count(*) filter (
            where events.event_type = 'task' and events.is_completed
        ) as count_tasks_completed,
        count(*) filter (where events.is_overdue) as count_tasks_overdue,
        count(*) filter (where events.event_type = 'note') as count_notes,
        max(events.activity_at) as last_activity_at
    from events
    group by events.location_id, events.contact_id

),

joined as (

    select
        contacts.location_id,
        contacts.contact_id,
        contacts.is_deleted,
        coalesce(event_counts.count_tasks, 0) as count_tasks,
        coalesce(event_counts.count_tasks_open, 0) as count_tasks_open,
        coalesce(event_counts.count_tasks_completed, 0)
            as count_tasks_completed,
        coalesce(event_counts.count_tasks_overdue, 0) as count_tasks_overdue,
        coalesce(event_counts.count_notes, 0) as count_notes,
        event_counts.last_activity_at,
        run_context.as_of_at
    from contacts
    cross join run_context
    left join event_counts
        on
            contacts.location_id = event_counts.location_id
            and contacts.contact_id = event_counts.contact_id

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
