"""The spawn form: every tier with the environments it offers, where each would run now, its price
and wait, or why it cannot start; datasets (with where each may be processed), each tier's
options, and the sites with their live state. Pure: it renders from the catalog, site states and
usage it is given.

Rendered by Jinja2 templates (``templates/``) with autoescape, as JupyterHub and KubeSpawner do:
every catalog text, site error and user value is escaped by the template, never by hand.

Never offers a combination that cannot start: each tier has its own environment select
(``environment-TIER``, as KubeSpawner nests choices under a profile), preset to an environment
that can start with that tier, and its placement line is computed for that very environment.
Works without JavaScript (every field is a plain form field; the hub takes the environment of the
chosen tier); a small script shows only the chosen tier's options and environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from ..catalog import Catalog, Tier, TierOption, format_bytes
from ..catalog.model import Overcommit
from ..placement import Decision, Request, Usage, access_problem
from ..wording import count, price_text
from ..wording import wait_text as about
from .fit import SiteProblems, place_with_environment
from .options import MAX_VALUE, OTHER, check_unlisted
from .pattern import browser_pattern

if TYPE_CHECKING:
    from ..sitedata import SiteState

__all__ = ["availability", "browser_pattern", "public_reasons", "render_form", "tier_size", "wait_text"]

#: longest notice shown above the form (it may quote a saved value)
NOTICE_LIMIT = 300


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,  # every value, also in the .css/.js includes' neighbours
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )


# --- wording -----------------------------------------------------------------------------------


def tier_size(tier: Tier) -> str:
    """'1 core · 2 GiB · no GPU', '8 cores · 64 GiB · 1 A100 GPU', '2 cores · 16 GiB · 1 A100 MIG
    1g.10gb slice'."""
    gpu = "no GPU"
    if tier.gpu:
        kind = f"{tier.gpu_model} " if tier.gpu_model else ""
        gpu = count(tier.gpu, f"{kind}MIG {tier.mig} slice" if tier.mig else f"{kind}GPU")
    cpu = _amount(tier.cpu_guarantee, tier.cpu_limit, lambda n: count(n, "core"), "{:g}".format, "cores")
    memory = _amount(tier.memory_guarantee, tier.memory_limit, format_bytes, format_bytes, "memory")
    return f"{cpu} · {memory} · {gpu}"


def _amount(guarantee, limit, show, low, what: str) -> str:
    """'2 cores'; guarantee-limit '0.5–2 cores'; no limit 'at least 2 cores'; neither 'cores as available'."""
    guarantee = limit if guarantee is None else guarantee  # a limit alone is also the request
    if guarantee is None:
        return f"{what} as available"
    if limit is None:
        return f"at least {show(guarantee)}"
    return show(limit) if guarantee == limit else f"{low(guarantee)}–{show(limit)}"


def availability(state: SiteState, admin: bool = True, overcommit: Overcommit | None = None) -> str:
    """'2 of 2 cores free, 20 GiB memory free, no GPU on this site (no NVIDIA driver)'; where the
    site overcommits, what running servers reserve of what it may promise, so that a tier offered
    while "0 of 2 cores free" says why it still fits."""
    if not state.reachable:
        return f"unreachable: {state.error}" if admin else "unavailable right now"
    cpu = f"{state.cpu_free:g} of {count(state.cpu_total, 'core')} free"
    memory = f"{format_bytes(state.memory_free)} memory free"
    if overcommit is not None and state.cpu_reserved is not None and overcommit.cpu > 1:
        promised = count(state.cpu_total * overcommit.cpu, "core")
        cpu += f" ({state.cpu_reserved:g} of {promised} promised, overcommit {overcommit.cpu:g}×)"
    if overcommit is not None and state.memory_reserved is not None and overcommit.memory > 1:
        held, promised = (
            format_bytes(state.memory_reserved),
            format_bytes(state.memory_total * overcommit.memory),
        )
        memory += f" ({held} of {promised} promised, overcommit {overcommit.memory:g}×)"
    parts = [cpu, memory]
    if state.gpus_total:
        parts += [f"{state.gpus_free.get(m, 0)} of {n} {m} free" for m, n in state.gpus_total.items()]
    else:
        parts.append(f"no GPU on this site ({state.gpu_reason or 'none found'})")
    return ", ".join(parts)


def wait_text(seconds: float) -> str:
    """'starts in about 4 min (a node is added)'."""
    return f"starts in {about(seconds)} (a node is added)"


def site_title(catalog: Catalog, states: dict[str, SiteState], name: str) -> str:
    state = states.get(name)
    spec = catalog.sites.get(name)
    return (state.display_name if state else "") or (spec.display_name if spec else "") or name


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def public_reasons(
    reasons: list[str], states: dict[str, SiteState], catalog: Catalog, admin: bool
) -> list[str]:
    """Reasons as this user may read them: for anyone but a hub admin, a site's error (a kubeconfig
    problem, an API server's answer) becomes one short line, "On-prem GPU cluster is unavailable
    right now", said once for all the sites that are down."""
    if admin:
        return list(reasons)
    down: list[str] = []
    out: list[str] = []
    broken = [s for s in states.values() if not s.reachable]
    for reason in reasons:
        site = next(
            (s for s in broken if s.name in reason and (not s.error or reason.endswith(f": {s.error}"))),
            None,
        )
        if site is None:
            out.append(reason)
        elif (title := site_title(catalog, states, site.name)) not in down:
            down.append(title)
    if down:
        out.append(f"{_and(down)} {'is' if len(down) == 1 else 'are'} unavailable right now")
    return out


# --- what the templates show -------------------------------------------------------------------


@dataclass
class EnvRow:
    name: str
    label: str
    selected: bool = False
    problem: str | None = None


@dataclass
class Where:
    """One placement line: the site a tier would run on with one environment."""

    env: str
    title: str
    site: str
    region: str
    price: str
    live: str
    wait: str | None
    selected: bool = False


@dataclass
class TierCard:
    name: str
    title: str
    size: str
    description: str
    site: str = ""
    checked: bool = False
    problem: str | None = None
    envs: list[EnvRow] = field(default_factory=list)
    wheres: list[Where] = field(default_factory=list)


@dataclass
class _View:
    """What ``render_form`` needs from its arguments, for the parts below."""

    catalog: Catalog
    states: dict[str, SiteState]
    groups: frozenset[str]
    env_problems: SiteProblems
    usage: Usage
    user: str
    admin: bool
    datasets: tuple[str, ...] = ()

    def reasons(self, decision: Decision) -> str:
        return "; ".join(public_reasons(decision.reasons, self.states, self.catalog, self.admin))

    def where(self, env: str, decision: Decision) -> Where:
        state = self.states.get(decision.site)
        spec = self.catalog.sites.get(decision.site)
        return Where(
            env=env,
            title=site_title(self.catalog, self.states, decision.site),
            site=decision.site,
            region=state.region if state else (spec.region if spec else ""),
            price=price_text(decision.price, self.catalog.currency),
            live=availability(state, self.admin, spec.overcommit if spec else None) if state else "",
            wait=None if decision.wait_seconds is None else wait_text(decision.wait_seconds),
        )


def _preferred(catalog: Catalog, allowed: list[str], wanted: object) -> list[str]:
    """``allowed`` in the order to try as a tier's preset: the user's last one, the catalog's
    default, then catalog order."""
    first = [wanted] if wanted in allowed else []
    default = catalog.default_name("environments", allowed)
    return list(dict.fromkeys([*first, *([default] if default else []), *allowed]))


def _tier_card(view: _View, name: str, tier: Tier, wanted_env: object) -> TierCard:
    catalog = view.catalog
    card = TierCard(name, tier.display_name or name, tier_size(tier), tier.description)
    allowed = [
        e
        for e in catalog.tier_environments(name)
        if not access_problem(catalog, "environments", e, view.groups)
    ]
    if not allowed:
        card.problem = access_problem(catalog, "tiers", name, view.groups) or (
            f"no environment offered with tier {name!r} is available to you"
        )
        return card
    decisions = {
        env: place_with_environment(
            catalog,
            Request(view.user, view.groups, name, env, view.datasets, view.usage),
            view.states,
            view.env_problems,
        )
        for env in allowed
    }
    order = _preferred(catalog, allowed, wanted_env)
    chosen = next((e for e in order if decisions[e].site), None)
    if chosen is None:
        card.problem = view.reasons(decisions[order[0]])
        return card
    card.site = decisions[chosen].site
    sites = {decisions[e].site for e in allowed if decisions[e].site}
    for env in allowed:
        decision = decisions[env]
        label = catalog.title("environments", env)
        row = EnvRow(env, label, selected=env == chosen)
        if decision.site is None:
            row.problem = view.reasons(decision)
            row.label = f"{label} (cannot start with this tier now: {row.problem})"
        else:
            if len(sites) > 1:  # without JavaScript, the select is where the site shows
                row.label = f"{label} (on {site_title(catalog, view.states, decision.site)})"
            if len(sites) > 1 or not card.wheres:  # one line per site: the same for every environment
                where = view.where(env if len(sites) > 1 else "", decision)
                where.selected = row.selected or len(sites) == 1
                card.wheres.append(where)
        card.envs.append(row)
    return card


@dataclass
class OptionView:
    id: str
    name: str
    label: str
    choices: list[dict]
    unlisted: str | None = None  # the text box's display name, when there is one
    text_id: str = ""
    pattern: str | None = None
    hint: str = ""
    typed: str = ""
    maxlength: int = MAX_VALUE


def _option(tier: str, name: str, option: TierOption, value: str | None) -> OptionView:
    """One tier option: a select of its choices (+ "Other..."), and a text box for an unlisted value.
    A saved value is shown again only if it would be accepted (never a refused, overlong one)."""
    unlisted = option.unlisted_choice if option.unlisted_choice and option.unlisted_choice.enabled else None
    if value is not None and value not in option.choices and check_unlisted(name, option, value):
        value = None
    other = value is not None and value not in option.choices and unlisted is not None
    if value is None or (value not in option.choices and not other):
        marked = [c for c, choice in option.choices.items() if choice.default]
        value = (marked or list(option.choices) or [None])[0]
    field_id = f"jh-opt-{tier}-{name}"
    choices = [
        {"value": slug, "label": choice.display_name or slug, "selected": slug == value and not other}
        for slug, choice in option.choices.items()
    ]
    view = OptionView(field_id, name, option.display_name or name, choices, text_id=f"{field_id}-unlisted")
    if unlisted and choices:
        choices.append({"value": OTHER, "label": unlisted.display_name_in_choices, "selected": other})
    if unlisted:
        view.unlisted = unlisted.display_name
        view.typed = value if other else ""
        if unlisted.validation_regex is not None:
            view.pattern = browser_pattern(unlisted.validation_regex)
            view.hint = unlisted.validation_message or f"must match {unlisted.validation_regex}"
    return view


def _option_groups(view: _View, chosen: str | None, selected: dict) -> list[dict]:
    saved = selected.get("options") if selected.get("tier") == chosen else None
    saved = saved if isinstance(saved, dict) else {}
    groups = []
    for name, tier in view.catalog.tiers.items():
        if not tier.options or access_problem(view.catalog, "tiers", name, view.groups):
            continue
        options = []
        for opt_name, option in tier.options.items():
            value = saved.get(opt_name) if name == chosen else None
            options.append(_option(name, opt_name, option, value if isinstance(value, str) else None))
        groups.append(
            {"tier": name, "title": tier.display_name or name, "shown": name == chosen, "options": options}
        )
    return groups


def _datasets(catalog: Catalog, selected: object, groups: frozenset[str]) -> tuple[str, ...]:
    if not isinstance(selected, list):
        return ()
    return tuple(
        n
        for n in dict.fromkeys(selected)
        if isinstance(n, str) and n in catalog.datasets and not access_problem(catalog, "datasets", n, groups)
    )


def _dataset_rows(view: _View) -> list[dict]:
    catalog, rows = view.catalog, []
    for name, dataset in catalog.datasets.items():
        stored = ", ".join(
            f"{site_title(catalog, view.states, s)} ({catalog.sites[s].region})" if s in catalog.sites else s
            for s in dataset.locations
        )
        rows.append(
            {
                "name": name,
                "title": dataset.display_name or name,
                "description": dataset.description,
                "where": "may be processed in "
                + (" or ".join(dataset.regions) if dataset.regions else "any region"),
                "stored": stored,
                "checked": name in view.datasets,
                "problem": access_problem(catalog, "datasets", name, view.groups),
            }
        )
    return rows


def _site_rows(view: _View) -> list[dict]:
    rows = []
    for name, spec in view.catalog.sites.items():
        state = view.states.get(name)
        if state is None:
            text = "no live state"
        elif not state.reachable:
            text = f"Unavailable: {state.error or 'unreachable'}" if view.admin else "unavailable right now"
        else:
            text = availability(state, overcommit=spec.overcommit)
        rows.append(
            {
                "name": name,
                "title": site_title(view.catalog, view.states, name),
                "kind": "on-prem" if spec.on_prem else "cloud",
                "region": spec.region,
                "ok": state is not None and state.reachable,
                "text": text,
            }
        )
    return rows


def _clip(text: str, limit: int = NOTICE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_form(
    catalog: Catalog,
    states: dict[str, SiteState],
    groups: frozenset[str],
    selected: dict,
    env_problems: SiteProblems,
    notice: str | None = None,
    usage: Usage | None = None,
    user: str = "",
    admin: bool = False,
) -> str:
    """The form's HTML. ``selected``: the user's previous options (unchecked: only preselects);
    ``env_problems``: environment -> site -> why it cannot run there; ``admin``: a hub admin, who
    sees each site's error in full (everyone else reads "... is unavailable right now")."""
    selected = selected if isinstance(selected, dict) else {}
    view = _View(catalog, states, groups, env_problems, usage or Usage(), user, admin)
    view.datasets = _datasets(catalog, selected.get("datasets"), groups)
    wanted_env = selected.get("environment")
    cards = [_tier_card(view, name, tier, wanted_env) for name, tier in catalog.tiers.items()]
    ok = [c.name for c in cards if not c.problem]
    chosen = selected.get("tier")
    if chosen not in ok:
        marked = [n for n in ok if catalog.tiers[n].default]
        chosen = (marked or ok or [None])[0]
    for card in cards:
        card.checked = card.name == chosen
    return (
        _templates()
        .get_template("form.html")
        .render(
            notice=_clip(notice) if notice else None,
            other=OTHER,
            tiers=cards,
            datasets=_dataset_rows(view),
            option_groups=_option_groups(view, chosen, selected),
            sites=_site_rows(view),
        )
    )
