-- grain: one row per business (location_id, business_id).
with

businesses as (

    select * from ghl_analytics.stg_businesses

),

business_contacts as (

    select * from ghl_analytics.stg_business_contacts

),

contact_counts as (

    select * from ghl_analytics.stg_business_contact_counts

),

contacts as (

    select * from ghl_analytics.stg_contacts

),

engagement as (

    select * from ghl_analytics.contact_engagement

),

lifecycle as (

    select * from ghl_analytics.contact_lifecycle

),

links as (

    select
        location_id,
        business_id,
        contact_id
    from business_contacts
    union
    select
        location_id,
        business_id,
        contact_id
    from contacts
    where business_id is not null

),

linked_contacts as (

    select
        links.location_id,
        links.business_id,
        links.contact_id,
        engagement.contact_id is not null
        and not engagement.is_deleted as is_loaded,
        lifecycle.lifecycle_stage,
        engagement.count_tasks_open,
        engagement.count_tasks_completed,
        engagement.count_tasks_overdue,
        engagement.count_notes,
        engagement.engagement_score,
        engagement.last_activity_at
    from links
    left join engagement
        on
            links.location_id = engagement.location_id
            and links.contact_id = engagement.contact_id
    left join lifecycle
        on
            links.location_id = lifecycle.location_id
            and links.contact_id = lifecycle.contact_id

),

totals as (

    select
        location_id,
        business_id,
        count(*) as count_contacts_linked,
        count(*) filter (where is_loaded) as count_contacts_loaded,
        count(*) filter (
            where is_loaded and lifecycle_stage = 'active'
        ) as count_contacts_active,
        sum(count_tasks_open) filter (where is_loaded) as count_tasks_open,
        sum(count_tasks_completed) filter (
            where is_loaded
        ) as count_tasks_completed,
        sum(count_tasks_overdue) filter (
            where is_loaded
        ) as count_tasks_overdue,
        sum(count_notes) filter (where is_loaded) as count_notes,
        cast(
            sum(engagement_score) filter (where is_loaded) as double precision
        ) / nullif(count(*) filter (where is_loaded), 0) as avg_score,
        max(last_activity_at) filter (where is_loaded) as last_activity_at
    from linked_contacts
    group by location_id, business_id

),

final as (

    select
        businesses.location_id,
        businesses.business_id,
        businesses.business_name,
        contact_counts.api_contact_count,
        contact_counts.fetched_at as api_count_fetched_at,
        coalesce(totals.count_contacts_linked, 0) as count_contacts_linked,
        coalesce(totals.count_contacts_loaded, 0) as count_contacts_loaded,
        contact_counts.api_contact_count
        - coalesce(totals.count_contacts_loaded, 0) as count_contacts_missing,
        contact_counts.api_contact_count
        = coalesce(totals.count_contacts_loaded, 0) as is_count_matching,
        coalesce(totals.count_contacts_active, 0) as count_contacts_active,
        cast(coalesce(totals.count_tasks_open, 0) as bigint)
            as count_tasks_open,
        cast(coalesce(totals.count_tasks_completed, 0) as bigint)
            as count_tasks_completed,
        cast(coalesce(totals.count_tasks_overdue, 0) as bigint)
            as count_tasks_overdue,
        cast(coalesce(totals.count_notes, 0) as bigint) as count_notes,
        cast(totals.avg_score as decimal(5, 2)) as avg_engagement_score,
        totals.last_activity_at
    from businesses
    left join contact_counts
        on
            businesses.location_id = contact_counts.location_id
            and businesses.business_id = contact_counts.business_id
    left join totals
        on
            businesses.location_id = totals.location_id
            and businesses.business_id = totals.business_id

)

select * from final
