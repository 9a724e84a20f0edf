-- One row: the at-risk lists' look-back window on the run date and the words their reasons
-- use for it, shared by at_risk_children and at_risk_by_source. The words name the settings'
-- values, so a reason never disagrees with what was applied.
with final as (
    select
        getvariable('as_of')::timestamp + interval 1 day
        - to_days(getvariable('at_risk_lookback_days')) as starts,
        -- The earliest report a reason looks at: the window's start, or the oldest report
        -- still counted open (reported at most open_episode_limit_days before the run date).
        least(
            starts,
            getvariable('as_of')::timestamp - to_days(getvariable('open_episode_limit_days'))
        ) as looks_back_to,
        'last ' || getvariable('at_risk_lookback_days') || ' days' as lookback,
        getvariable('repeat_episodes') || ' episodes within '
        || getvariable('repeat_window_days') || ' days' as repeat_trigger
)

select * from final
