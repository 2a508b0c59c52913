-- grain: one row per custom field definition (location_id, custom_field_id).
with

source as (

    select * from ghl_analytics.src_custom_fields

),

renamed as (

    select
        nullif(trim(id), '') as custom_field_id,
        nullif(trim(location_id), '') as location_id,
        nullif(trim(name), '') as field_name,
        nullif(trim(field_key), '') as field_key,
        nullif(trim(data_type), '') as data_type,
        nullif(trim(model), '') as field_model,
        nullif(trim(placeholder), '') as placeholder,
        position,
        picklist_options,
        _dlt_load_id as load_id
    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by location_id, custom_field_id
            order by load_id desc nulls last
        ) as row_num
    from renamed
    where custom_field_id is not null

),

final as (

    select
        custom_field_id,
        location_id,
        field_name,
        field_key,
        data_type,
        field_model,
        placeholder,
        position,
        picklist_options
    from ranked
    where row_num = 1

)

select * from final
