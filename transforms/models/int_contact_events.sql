-- grain: one row per live (not deleted) task or note of a contact, with the
-- time it counts as activity: a note at its date added and a completed task at
-- its due date, when that time is not after the run's as_of time. An open task
-- is overdue when due strictly before as_of.
with

tasks as (

    select * from ghl_analytics.stg_tasks

),

notes as (

    select * from ghl_analytics.stg_notes

),

run_context as (

    select * from ghl_analytics.run_context

),

task_events as (

    select
        tasks.location_id,
        tasks.contact_id,
        'task' as event_type,
        tasks.is_completed,
        not tasks.is_completed
        and tasks.due_at < run_context.as_of_at as is_overdue,
        case
            when tasks.is_completed and tasks.due_at <= run_context.as_of_at
                then tasks.due_at
        end as activity_at
    from tasks
    cross join run_context
    where not tasks.is_deleted and tasks.contact_id is not null

),

note_events as (

    select
        notes.location_id,
        notes.contact_id,
        'note' as event_type,
        false as is_completed,
        false as is_overdue,
        case
            when notes.added_at <= run_context.as_of_at then notes.added_at
        end as activity_at
    from notes
    cross join run_context
    where not notes.is_deleted and notes.contact_id is not null

),

final as (

    select * from task_events
    union all
    select * from note_events

)

select * from final
