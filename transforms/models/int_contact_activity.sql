-- grain: one row per activity of a contact up to the run's as_of time:
-- a note (at its date added) or a completed task (at its due date).
with

notes as (

    select * from ghl_analytics.stg_notes

),

tasks as (

    select * from ghl_analytics.stg_tasks

),

run_context as (

    select * from ghl_analytics.run_context

),

note_activity as (

    select
        notes.location_id,
        notes.contact_id,
        notes.note_id as activity_id,
        'note' as activity_type,
        notes.added_at as activity_at
    from notes
    cross join run_context
    where
        not notes.is_deleted
        and notes.contact_id is not null
        and notes.added_at <= run_context.as_of_at

),

task_activity as (

    select
        tasks.location_id,
        tasks.contact_id,
        tasks.task_id as activity_id,
        'task' as activity_type,
        tasks.due_at as activity_at
    from tasks
    cross join run_context
    where
        not tasks.is_deleted
        and tasks.is_completed
        and tasks.contact_id is not null
        and tasks.due_at <= run_context.as_of_at

),

final as (

    select * from note_activity
    union all
    select * from task_activity

)

select * from final
