-- The comparable category of every episode (schemas/classification.yml, docs/classification.md).
-- First matching rule wins; the rule id says which one decided.
with episodes as (
    select * from int_episodes_deduplicated
),

declared_sources as (
    select * from source_declarations
),

regime_changes as (
    select * from source_regimes
),

-- Each declared regime as a period [starts, ends); before the first change, 'single'.
regime_periods as (
    select
        source,
        starts,
        coalesce(lead(starts) over (partition by source order by starts), 'infinity'::timestamp)
            as ends,
        regime
    from regime_changes
    union all
    select source, '-infinity'::timestamp, min(starts), 'single'
    from regime_changes
    group by source
),

with_regime as (
    select
        e.*,
        s.layout,
        -- SSDA903 sources declare no periods, so their regime stays null.
        p.regime,
        coalesce(e.risk_grade, e.initial_risk_grade) as highest_grade
    from episodes as e
    inner join declared_sources as s on e.source = s.source
    left join regime_periods as p
        on e.source = p.source and e.reported_at >= p.starts and e.reported_at < p.ends
),

ruled as (
    select
        *,
        case
            when layout = 'ssda903_missing' then 'ssda903_recorded'
            when regime = 'two_tier' and recorded_category = 'absent'
                and highest_grade in ('medium', 'high') then 'two_tier_escalated'
            when regime = 'two_tier' and recorded_category is not null then 'two_tier_recorded'
            when regime = 'two_tier' and highest_grade is not null then 'two_tier_risk_grade'
            when regime = 'continuum' and initial_risk_grade = 'no_apparent_risk'
                and highest_grade <> 'no_apparent_risk' then 'continuum_escalated'
            when regime = 'continuum' and highest_grade is not null then 'continuum_risk_grade'
            when regime = 'continuum' and recorded_category is not null then 'continuum_recorded'
            when regime = 'single' and cse_flag then 'single_cse'
            when regime = 'single'
                and list_contains(getvariable('single_absent_grades'), highest_grade)
                then 'single_low_risk'
            when regime = 'single' and highest_grade is not null then 'single_high_risk'
            else 'nothing_to_go_on'
        end as rule
    from with_regime
),

final as (
    select
        * exclude (highest_grade),
        case
            when rule in ('ssda903_recorded', 'two_tier_recorded', 'continuum_recorded')
                then recorded_category
            when rule in ('two_tier_risk_grade', 'continuum_risk_grade')
                then if(highest_grade = 'no_apparent_risk', 'absent', 'missing')
            when rule = 'single_low_risk' then 'absent'
            when rule = 'nothing_to_go_on' then 'undetermined'
            else 'missing'
        end as category,
        case
            when rule in ('ssda903_recorded', 'two_tier_recorded', 'continuum_recorded')
                then 'recorded'
            when rule in ('two_tier_risk_grade', 'continuum_risk_grade') then 'risk_grade'
            when rule in ('two_tier_escalated', 'continuum_escalated') then 'escalated'
            when rule like 'single_%' then 'derived'
            else 'none'
        end as category_basis
    from ruled
)

select * from final
