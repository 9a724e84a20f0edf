-- The comparable category of every episode (schemas/classification.yml, docs/classification.md).
-- First matching rule wins; the rule id says which one decided. The conditions are the CASE
-- below, in the order of `rules:` in schemas/classification.yml (a test checks); each rule's
-- category and basis come from that file, registered by the build as classification_rules.
with episodes as (
    select * from int_episodes_deduplicated
),

declared_sources as (
    select * from source_declarations
),

regime_changes as (
    select * from source_regimes
),

decision_table as (
    select * from classification_rules
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

-- Categories the table does not fix are worked out per episode (the tokens are explained in
-- schemas/classification.yml). A rule missing from the table stops the build rather than
-- leaving its episodes without a category.
final as (
    select
        r.* exclude (highest_grade),
        case
            when t.rule is null
                then error('rule ' || r.rule || ' is not in schemas/classification.yml')
            when t.category = 'as_recorded' then r.recorded_category
            when t.category = 'by_risk_grade'
                then if(r.highest_grade = 'no_apparent_risk', 'absent', 'missing')
            else t.category
        end as category,
        t.basis as category_basis
    from ruled as r
    left join decision_table as t on r.rule = t.rule
)

select * from final
