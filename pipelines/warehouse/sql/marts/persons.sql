-- One row per linked child (person_id): who knows the child and what each recorded. Police
-- missing and absent, council missing and away stay separate counts on the one child: the
-- definitions are never merged. Only pseudonymous columns: the identity store is not read.
with episodes as (
    select * from episodes
),

person_ids as (
    select * from stg_person_ids
),

declared_sources as (
    select * from source_declarations
),

known_to_council as (
    select * from int_persons_known_to_council
),

-- Each episode with the kind of agency that recorded it: an SSDA903 Missing table is the
-- council's, every other episode layout a police force's.
linked as (
    select
        episodes.*,
        coalesce(declared_sources.agency, episodes.source) as agency,
        if(declared_sources.layout = 'ssda903_missing', 'council', 'police') as agency_kind,
        -- The order of (reported_at, episode_id) as one text key, the time fixed-width to the
        -- microsecond: taking the latest by it was 1.3 s faster at 5.4M episodes than by the
        -- pair.
        strftime(episodes.reported_at, '%Y%m%d%H%M%S%f') || episodes.episode_id as order_key
    from episodes
    left join declared_sources using (source)
    where episodes.person_id is not null
),

counted as (
    select
        person_id,
        list_sort(list(distinct agency)) as agency_list,
        list_sort(list(distinct source)) as source_list,
        -- A child id has one person, so its first episode counts it once (3 s faster than
        -- counting distinct child ids at 5.4M episodes).
        count(*) filter (where child_episode_number = 1) as child_ids,
        count(*) as episodes,
        count(*) filter (where agency_kind = 'police' and category = 'missing')
            as police_missing_episodes,
        count(*) filter (where agency_kind = 'police' and category = 'absent')
            as police_absent_episodes,
        count(*) filter (where agency_kind = 'council' and category = 'missing')
            as council_missing_episodes,
        count(*) filter (where agency_kind = 'council' and category = 'away')
            as council_away_episodes,
        count(*) filter (where category = 'undetermined') as undetermined_episodes,
        min(reported_at) as first_reported_at,
        max(reported_at) as last_reported_at,
        bool_or(coalesce(looked_after, false)) as looked_after_ever,
        -- The latest episode that records it says whether the child is looked after now.
        arg_max(looked_after, order_key) filter (where looked_after is not null)
            as looked_after_latest,
        arg_max(birth_month, order_key) filter (where birth_month is not null)
            as birth_month,
        arg_max(sex, order_key) filter (where sex is not null) as sex
    from linked
    group by person_id
),

-- Review counts over every record of the person, with episodes or not.
reviewed as (
    select person_id, bool_or(linked_by = 'decision') as linked_by_review
    from person_ids
    group by person_id
),

final as (
    select
        counted.person_id,
        array_to_string(agency_list, ', ') as agencies,
        len(agency_list) as agency_count,
        array_to_string(source_list, ', ') as sources,
        len(source_list) as source_count,
        child_ids,
        episodes,
        police_missing_episodes,
        police_absent_episodes,
        council_missing_episodes,
        council_away_episodes,
        undetermined_episodes,
        first_reported_at,
        last_reported_at,
        looked_after_ever,
        looked_after_latest,
        birth_month,
        sex,
        coalesce(reviewed.linked_by_review, false) as linked_by_review,
        counted.person_id in (select person_id from known_to_council) as known_to_council
    from counted
    left join reviewed using (person_id)
)

select * from final
