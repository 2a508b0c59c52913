-- grain: one row per snapshot date, location and lifecycle stage
-- (snapshot_date, location_id, lifecycle_stage); every stage has a row.
with

lifecycle as (

    select * from ghl_analytics.contact_lifecycle

),

engagement as (

    select * from ghl_analytics.contact_engagement

),

run_context as (

    select * from ghl_analytics.run_context

),

stages as (

    select stage_names.lifecycle_stage
    from (
        values ('new'), ('engaged'), ('active'), ('dormant'), ('deleted')
    ) as stage_names (lifecycle_stage)

),

locations as (

    select distinct location_id
    from lifecycle

),

contact_figures as (

    select
        lifecycle.location_id,
        lifecycle.lifecycle_stage,
        count(*) as count_contacts,
        sum(engagement.count_tasks_open) as count_tasks_open,
        sum(engagement.count_tasks_completed) as count_tasks_completed,
        sum(engagement.count_tasks_overdue) as count_tasks_overdue,
        sum(engagement.count_notes) as count_notes,
        cast(sum(engagement.engagement_score) as double precision)
        / count(*) as avg_score
    from lifecycle
    inner join engagement
        on
            lifecycle.location_id = engagement.location_id
            and lifecycle.contact_id = engagement.contact_id
    group by lifecycle.location_id, lifecycle.lifecycle_stage

),

final as (

    select
        run_context.snapshot_date,
        run_context.as_of_at,
        locations.location_id,
        stages.lifecycle_stage,
        coalesce(contact_figures.count_contacts, 0) as count_contacts,
        cast(coalesce(contact_figures.count_tasks_open, 0) as bigint)
            as count_tasks_open,
        cast(coalesce(contact_figures.count_tasks_completed, 0) as bigint)
            as count_tasks_completed,
        cast(coalesce(contact_figures.count_tasks_overdue, 0) as bigint)
            as count_tasks_overdue,
        cast(coalesce(contact_figures.count_notes, 0) as bigint)
            as count_notes,
        cast(contact_figures.avg_score as decimal(5, 2))
            as avg_engagement_score
    from run_context
    cross join locations
    cross join stages
    left join contact_figures
        on
            locations.location_id = contact_figures.location_id
            and stages.lifecycle_stage = contact_figures.lifecycle_stage

)

select * from final
