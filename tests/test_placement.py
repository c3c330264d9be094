"""Page-1 placement of a drug whose rows differ by source, other actions or condition."""

from __future__ import annotations

from types import SimpleNamespace

from pgx.placement import DEPENDS, place_drug
from pgx.report import ACTION_GROUPS, GROUPS, group_key

ORDER = [g.key for g in GROUPS]


def row(source, action, other=(), **conditions):
    base = dict(indication="", age="", risk_factors="", other_conditions="", phenotypes=[], lookup_key="X=1")
    return SimpleNamespace(source=source, action=action, other_actions=list(other), **{**base, **conditions})


def place(rows):
    return place_drug(rows, group_key, lambda a: ACTION_GROUPS.get(a, "none"), ORDER)


def test_shared_primary_advice_wins_and_the_extra_option_is_noted():
    # CPIC: reduce to 50 %; DPWG: 50 % or avoid -> adjust the dose, not avoid
    p = place([row("CPIC", "reduce_dose"), row("DPWG", "reduce_dose", ["avoid"])])
    assert (p.group, p.note) == ("adjust", "DPWG also: avoid")


def test_a_primary_that_is_the_other_sources_option_is_shared():
    p = place([row("CPIC", "reduce_dose"), row("DPWG", "use_alternative", ["reduce_dose"])])
    assert (p.group, p.note) == ("adjust", "DPWG prefers: use an alternative")


def test_nothing_shared_goes_to_the_more_urgent_with_a_mark():
    p = place([row("CPIC", "standard_dose"), row("DPWG", "use_alternative")])
    assert (p.group, p.note) == ("alternative", "sources differ: see page 2")


def test_advice_that_turns_on_the_indication_is_not_chosen():
    rows = [row("CPIC", "reduce_dose", indication="malignancy"), row("CPIC", "consider_alternative", indication="nonmalignancy")]
    p = place(rows)
    assert (p.group, p.note) == (DEPENDS, "depends on indication: see page 2")
    # branches that agree do not make a drug depend on anything
    same = [row("DPWG", "reduce_dose", indication="immunosuppression"), row("DPWG", "reduce_dose", indication="leukaemia")]
    assert place(same).group == "adjust"


def test_a_source_without_advice_neither_agrees_nor_disagrees():
    p = place([row("CPIC", "reduce_dose"), row("DPWG", "no_recommendation")])
    assert (p.group, p.note) == ("adjust", "")
