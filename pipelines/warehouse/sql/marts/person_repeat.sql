-- Repeat measures on the person across agencies, beside the per-source ones (children,
-- repeat_missing): the same definitions, over every linked source's episodes of the child.
-- Counted: episodes other than the council's "away" (as in 3_in_90_days), reported by the end
-- of the run date. Categories are not merged: the band counts episodes, and persons has them by
-- agency and category.
with episodes as (
    select * from episodes
),

run as (
    select
        getvariable('as_of')::timestamp + interval 1 day as run_end,
        run_end - to_months(getvariable('last_months')) as last_months_start
),

counted as (
    select episode_id, person_id, source, reported_at
    from episodes, run
    where person_id is not null and category <> 'away' and reported_at < run_end
),

-- The person's counted episodes in order across sources: each with the one two before it
-- (repeat_episodes - 1 before), the sources of those episodes, and the next one.
sequenced as (
    select
        *,
        lag(reported_at, getvariable('repeat_episodes') - 1) over person_order as window_start,
        list(source) over (
            -- sqlfluff cannot parse a frame bound that is an expression; DuckDB can.
            person_order rows between getvariable('repeat_episodes') - 1 preceding  -- noqa: PRS
            and current row
        ) as window_sources,
        date_diff('second', reported_at, lead(reported_at) over person_order) / 86400.0
            as days_to_next,
        -- The order of (reported_at, episode_id), quicker to compare than the pair.
        row_number() over person_order as person_episode_number
    from counted
    window person_order as (partition by person_id order by reported_at, episode_id)
),

-- 90 days in, 91 out: the same test as int_episodes_sequenced's per-child window.
windows as (
    select
        *,
        coalesce(
            reported_at <= window_start + to_days(getvariable('repeat_window_days')), false
        ) as completes_window,
        if(completes_window, list_sort(list_distinct(window_sources)), null) as qualifying_sources
    from sequenced
),

per_person as (
    select
        person_id,
        count(*) filter (where reported_at >= last_months_start)
            as episodes_last_12_months,
        min(reported_at) filter (where completes_window) as entered_at,
        arg_min(episode_id, person_episode_number) filter (where completes_window)
            as qualifying_episode_id,
        arg_min(qualifying_sources, person_episode_number) filter (where completes_window)
            as entered_sources,
        max(reported_at) filter (where completes_window) as last_completed_at,
        arg_max(qualifying_sources, person_episode_number) filter (where completes_window)
            as last_completed_sources,
        round(median(days_to_next), 1) as median_days_to_next_episode,
        round(min(days_to_next), 1) as shortest_days_to_next_episode
    from windows, run
    group by person_id
),

final as (
    select
        person_id,
        episodes_last_12_months,
        case
            when episodes_last_12_months = 0 then null
            when episodes_last_12_months <= 5 then episodes_last_12_months::varchar
            when episodes_last_12_months <= 10 then '6-10'
            when episodes_last_12_months <= 20 then '11-20'
            when episodes_last_12_months <= 50 then '21-50'
            else 'over 50'
        end as episode_band,
        entered_at as entered_repeat_at,
        qualifying_episode_id as repeat_qualifying_episode_id,
        array_to_string(entered_sources, ', ') as repeat_entered_sources,
        last_completed_at as last_repeat_at,
        array_to_string(last_completed_sources, ', ') as last_repeat_sources,
        len(last_completed_sources) as last_repeat_source_count,
        median_days_to_next_episode,
        shortest_days_to_next_episode
    from per_person
)

select * from final
