"""Where a drug goes on page 1 of the report when its recommendation rows do not all agree.

A drug can have several recommendation rows for one patient: one per guideline source
(CPIC, DPWG), per CPIC population, and per branch of a recommendation whose advice
depends on a condition (an indication, age, risk factors, co-medication). Page 1 lists
each drug once. :func:`place_drug` decides where, without filing the drug under the most
cautious word of any one row:

1. **A condition the report cannot know.** When one source's rows for the drug fall in
   different consequence groups and differ in a condition (indication, age, risk
   factors, another condition), the drug goes to the ``depends`` group with the note
   ``depends on indication: see page 2`` (naming the kinds of condition that differ).
   The report never picks a branch.
2. **Sources.** Each source with advice (a source whose rows only say "no
   recommendation" has none) has a primary group (its rows' group) and the groups of its
   other actions (``50 % or avoid``: avoid). When every source shares the primary group,
   that is the drug's group; when they also differ in their other actions, the note says
   what another source adds (``DPWG also: avoid``). When the primaries differ but one of
   them is an option in every other source (CPIC: reduce; DPWG: an alternative *or* a
   reduced dose), that shared advice is the group, with the note ``DPWG prefers: use an
   alternative``. When nothing is shared, the drug goes under the more urgent primary,
   with the note ``sources differ: see page 2``.

Pure functions over rows with ``source``, ``action``, ``other_actions`` and the
condition columns; the caller gives each row's group and the groups' urgency order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

#: condition columns of a recommendation row and how a note names them
CONDITION_COLUMNS = (("indication", "indication"), ("age", "age"), ("risk_factors", "risk factors"),
                     ("other_conditions", "situation"))  # fmt: skip
#: groups that carry no advice: rows in them do not take part in agreeing or disagreeing
NO_ADVICE = ("none", "untested")
DEPENDS = "depends"

_ACTION_WORDS = {
    "avoid": "avoid",
    "use_alternative": "use an alternative",
    "consider_alternative": "consider an alternative",
    "reduce_dose": "a lower dose",
    "increase_dose": "a higher dose",
    "monitor": "monitoring",
    "assess_further": "further assessment",
    "standard_dose": "the usual dose",
}


@dataclass(frozen=True)
class Placement:
    """A drug's group on page 1 and the note printed next to it (empty when none)."""

    group: str
    note: str = ""


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _list(value: object) -> list[str]:
    if value is None or isinstance(value, float | str) and not _text(value):
        return []
    if isinstance(value, str):
        return [v for v in value.split(";") if v]
    return [str(v) for v in value]


def condition_of(row: object) -> tuple[str, ...]:
    return tuple(_text(getattr(row, col, "")).strip().lower() for col, _ in CONDITION_COLUMNS)


def depends_on(rows: Sequence[object], group_of: Callable[[object], str]) -> list[str]:
    """The kinds of condition (``indication``, ``age``, ...) that change one source's advice."""
    kinds: list[str] = []
    for source in dict.fromkeys(_text(r.source) for r in rows):
        mine = [r for r in rows if _text(r.source) == source and group_of(r) not in NO_ADVICE]
        if len({group_of(r) for r in mine}) < 2:
            continue
        conditions = [condition_of(r) for r in mine]
        for i, (_, word) in enumerate(CONDITION_COLUMNS):
            if len({c[i] for c in conditions}) > 1 and word not in kinds:
                kinds.append(word)
    return kinds


def place_drug(rows: Sequence[object], group_of: Callable[[object], str], action_group: Callable[[str], str],
               order: Sequence[str]) -> Placement:  # fmt: skip
    """Page-1 placement of one drug from its rows (see the module docstring)."""
    rank = {g: i for i, g in enumerate(order)}
    groups = [group_of(r) for r in rows]
    advising = [r for r, g in zip(rows, groups) if g not in NO_ADVICE]
    if not advising:
        return Placement(min(groups, key=lambda g: rank[g]))
    placed = _place_advice(rows, advising, group_of, action_group, rank)
    # a source that could not assess the drug (a gene without a result) outranks "use as usual"
    untested = [g for g in groups if g == "untested"]
    if untested and rank["untested"] < rank[placed.group]:
        return Placement("untested", placed.note)
    return placed


def _place_advice(rows: Sequence[object], advising: Sequence[object], group_of: Callable[[object], str],
                  action_group: Callable[[str], str], rank: dict[str, int]) -> Placement:  # fmt: skip
    if kinds := depends_on(rows, group_of):
        return Placement(DEPENDS, f"depends on {' and '.join(kinds)}: see page 2")
    sources = list(dict.fromkeys(_text(r.source) for r in advising))
    primary = {s: min((group_of(r) for r in advising if _text(r.source) == s), key=lambda g: rank[g]) for s in sources}
    options = {
        s: {action_group(a) for r in advising if _text(r.source) == s for a in _list(getattr(r, "other_actions", None))}
        for s in sources
    }
    other_words = {
        s: [w for r in advising if _text(r.source) == s for a in _list(getattr(r, "other_actions", None))
            if (w := _ACTION_WORDS.get(a))]
        for s in sources
    }  # fmt: skip
    firsts = set(primary.values())
    if len(firsts) == 1:
        group = firsts.pop()
        extra = [f"{s} also: {', '.join(dict.fromkeys(other_words[s]))}" for s in sources
                 if other_words[s] and set(other_words[s]) != set(_common(other_words, sources))]  # fmt: skip
        return Placement(group, "; ".join(extra) if len(sources) > 1 else "")
    shared = [g for g in sorted(firsts, key=lambda g: rank[g])
              if all(primary[s] == g or g in options[s] for s in sources)]  # fmt: skip
    if shared:
        group = shared[0]
        prefers = [f"{s} prefers: {_group_words(primary[s], advising, s, group_of)}" for s in sources if primary[s] != group]
        return Placement(group, "; ".join(prefers))
    return Placement(min(firsts, key=lambda g: rank[g]), "sources differ: see page 2")


def _common(words: dict[str, list[str]], sources: Iterable[str]) -> set[str]:
    sets = [set(words[s]) for s in sources]
    return set.intersection(*sets) if sets else set()


def _group_words(group: str, rows: Sequence[object], source: str, group_of: Callable[[object], str]) -> str:
    actions = [_text(r.action) for r in rows if _text(r.source) == source and group_of(r) == group]
    return ", ".join(dict.fromkeys(_ACTION_WORDS.get(a, a) for a in actions))


__all__ = ["CONDITION_COLUMNS", "DEPENDS", "Placement", "depends_on", "place_drug"]
