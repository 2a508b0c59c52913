-- generated from transforms/mapping.yml by `python -m transforms.mapping`;
-- edit the mapping, not this file.
-- grain: one row per GHL contact (location_id, contact_id), deleted contacts
-- included.
with

contacts as (

    select * from ghl_analytics.stg_contacts

),

businesses as (

    select * from ghl_analytics.stg_businesses

),

tags as (

    select * from ghl_analytics.stg_contact_tags

),

field_values as (

    select * from ghl_analytics.stg_contact_custom_fields

),

custom_fields as (

    select * from ghl_analytics.stg_custom_fields

),

lifecycle as (

    select * from ghl_analytics.contact_lifecycle

),

engagement as (

    select * from ghl_analytics.contact_engagement

),

escaped_tags as (

    select
        location_id,
        contact_id,
        tag,
        replace(
            replace(
                replace(
                    replace(replace(tag, '\', '\\'), '"', '\"'),
                    chr(10),
                    '\n'
                ),
                chr(13),
                '\r'
            ),
            chr(9),
            '\t'
        ) as tag_json
    from tags

),

tag_lists as (

    select
        location_id,
        contact_id,
        '['
        || string_agg('"' || tag_json || '"', ',' order by tag)
        || ']' as tags_json
    from escaped_tags
    group by location_id, contact_id

),

named_values as (

    select
        field_values.location_id,
        field_values.contact_id,
        field_values.value_text,
        coalesce(
            custom_fields.field_name,
            custom_fields.field_key,
            field_values.custom_field_id
        ) as field_name
    from field_values
    left join custom_fields
        on
            field_values.location_id = custom_fields.location_id
            and field_values.custom_field_id = custom_fields.custom_field_id

),

escaped_values as (

    select
        location_id,
        contact_id,
        field_name,
        replace(
            replace(
                replace(
                    replace(replace(field_name, '\', '\\'), '"', '\"'),
                    chr(10),
                    '\n'
                ),
                chr(13),
                '\r'
            ),
            chr(9),
            '\t'
        ) as name_json,
        replace(
            replace(
                replace(
                    replace(replace(value_text, '\', '\\'), '"', '\"'),
                    chr(10),
                    '\n'
                ),
                chr(13),
                '\r'
            ),
            chr(9),
            '\t'
        ) as value_json
    from named_values

),

custom_field_objects as (

    select
        location_id,
        contact_id,
        '{'
        || string_agg(
            '"' || name_json || '":'
            || coalesce('"' || value_json || '"', 'null'),
            ',' order by field_name, value_json
        )
        || '}' as custom_fields_json
    from escaped_values
    group by location_id, contact_id

),

email_counts as (

    select
        location_id,
        email,
        count(*) as count_contacts
    from contacts
    where email is not null and not is_deleted
    group by location_id, email

),

final as (

    select
        contacts.contact_id as external_id,
        'gohighlevel' as external_source,
        contacts.location_id,
        contacts.first_name,
        contacts.last_name,
        contacts.full_name,
        contacts.email,
        coalesce(email_counts.count_contacts, 0)
        - case when contacts.is_deleted then 0 else 1 end > 0
            as is_duplicate_email,
        contacts.phone_e164 as phone,
        contacts.phone_raw,
        coalesce(
            businesses.business_name,
            contacts.company_name,
            contacts.business_name
        ) as company_name,
        contacts.business_id as business_external_id,
        contacts.assigned_user_id as owner_external_id,
        coalesce(tag_lists.tags_json, '[]') as tags,
        coalesce(custom_field_objects.custom_fields_json, '{}')
            as custom_fields_json,
        contacts.address as address_line1,
        contacts.city,
        contacts.state,
        contacts.postal_code,
        contacts.country,
        contacts.time_zone,
        contacts.website,
        contacts.contact_source as lead_source,
        contacts.contact_type,
        contacts.is_dnd as is_do_not_contact,
        lifecycle.lifecycle_stage,
        engagement.engagement_score,
        engagement.last_activity_at,
        contacts.added_at as created_at,
        contacts.updated_at,
        contacts.is_deleted,
        contacts.deleted_at
    from contacts
    left join businesses
        on
            contacts.location_id = businesses.location_id
            and contacts.business_id = businesses.business_id
    left join tag_lists
        on
            contacts.location_id = tag_lists.location_id
            and contacts.contact_id = tag_lists.contact_id
    left join custom_field_objects
        on
            contacts.location_id = custom_field_objects.location_id
            and contacts.contact_id = custom_field_objects.contact_id
    left join email_counts
        on
            contacts.location_id = email_counts.location_id
            and contacts.email = email_counts.email
    left join lifecycle
        on
            contacts.location_id = lifecycle.location_id
            and contacts.contact_id = lifecycle.contact_id
    left join engagement
        on
            contacts.location_id = engagement.location_id
            and contacts.contact_id = engagement.contact_id

)

select * from final
