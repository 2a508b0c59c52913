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

activity_gaps as (

    select
        location_id,
        contact_id,
        activity_at,
        lag(activity_at) over (
            partition by location_id, contact_id
            order by activity_at
        ) as previous_activity_at
    from events
    where activity_at is not null

),

activity_streaks as (

    select
        location_id,
        contact_id,
        max(activity_at) as last_activity_at,
        max(
            case
                when
                    previous_activity_at is null
                    or activity_at > previous_activity_at + interval '30 days'
                    then activity_at
            end
        ) as streak_started_at
    from activity_gaps
    group by location_id, contact_id

),

joined as (

    select
        contacts.location_id,
        contacts.contact_id,
        contacts.is_deleted,
        contacts.deleted_at,
        contacts.added_at,
        activity_streaks.last_activity_at,
        activity_streaks.streak_started_at,
        run_context.as_of_at
    from contacts
    cross join run_context
    left join activity_streaks
        on
            contacts.location_id = activity_streaks.location_id
            and contacts.contact_id = activity_streaks.contact_id

),

staged as (

    select
        *,
        case
            when is_deleted then 'deleted'
            when last_activity_at > as_of_at - interval '30 days' then 'active'
            when last_activity_at > as_of_at - interval '90 days' then 'engaged'
            when added_at > as_of_at - interval '30 days' then 'new'
            else 'dormant'
        end as lifecycle_stage
    from joined

),

entered as (

    select
        *,
        case lifecycle_stage
            when 'deleted' then deleted_at
            when 'active' then streak_started_at
            when 'engaged' then last_activity_at + interval '30 days'
            when 'new' then added_at
            else
                greatest(
                    last_activity_at + interval '90 days',
                    added_at + interval '30 days'
                )
        end as stage_entered_at
    from staged

),

final as (

    select
        location_id,
        contact_id,
        is_deleted,
        added_at,
        cast(date_trunc('month', added_at) as date) as cohort_month,
        last_activity_at,
        lifecycle_stage,
        stage_entered_at,
        case
            when stage_entered_at is not null
                then
                    greatest(
                        0,
                        cast(as_of_at as date) - cast(stage_entered_at as date)
                    )
        end as days_in_stage
    from entered

)

select * from final
