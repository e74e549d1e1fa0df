"""The spawn form: every tier with where it would run now, live availability and, when it
cannot start, why. Pure: it renders from the catalog and site states it is given."""

from __future__ import annotations

from html import escape

from ..catalog import Catalog, Tier, format_bytes
from ..placement import Request, access_problem, place
from ..sites.base import SiteState

STYLE = """
<style>
.jh-hybrid fieldset { border: 0; padding: 0; margin: 0 0 1em; }
.jh-hybrid legend { font-size: 1.1em; font-weight: 600; }
.jh-tier { display: block; border: 1px solid #ccc; border-radius: 6px; padding: .6em .8em;
  margin: .4em 0; cursor: pointer; }
.jh-tier.jh-disabled { opacity: .6; cursor: not-allowed; background: #f6f6f6; }
.jh-tier input { margin-right: .5em; }
.jh-size { color: #555; margin-left: .5em; }
.jh-where, .jh-why, .jh-desc { font-size: .9em; margin: .2em 0 0 1.6em; }
.jh-why { color: #a4000f; }
.jh-notice { border-left: 4px solid #e0a800; padding: .4em .8em; background: #fff8e1; }
</style>
"""


def tier_size(tier: Tier) -> str:
    gpu = "no GPU"
    if tier.gpu:
        gpu = f"{tier.gpu} {tier.gpu_model + ' ' if tier.gpu_model else ''}GPU{'s' if tier.gpu > 1 else ''}"
    return f"{tier.cpu:g} CPU · {format_bytes(tier.memory)} · {gpu}"


def availability(state: SiteState) -> str:
    """'2 of 2 cores free, 20 GiB memory free, no GPU on this site (no NVIDIA driver)'."""
    if not state.reachable:
        return f"unreachable: {state.error}"
    parts = [
        f"{state.cpu_free:g} of {state.cpu_total:g} cores free",
        f"{format_bytes(state.memory_free)} memory free",
    ]
    if state.gpus_total:
        parts += [f"{state.gpus_free.get(m, 0)} of {n} {m} free" for m, n in state.gpus_total.items()]
    else:
        parts.append(f"no GPU on this site ({state.gpu_reason or 'none found'})")
    return ", ".join(parts)


def render_form(
    catalog: Catalog,
    states: dict[str, SiteState],
    groups: frozenset[str],
    selected: dict,
    env_problems: dict[str, str | None],
    notice: str | None = None,
) -> str:
    out = [STYLE, '<div class="jh-hybrid">']
    if notice:
        out.append(f'<p class="jh-notice" role="alert">{escape(notice)}</p>')
    out.append("<fieldset><legend>Hardware tier</legend>")
    first_ok = None
    rows = []
    env = selected.get("environment")
    if env not in catalog.environments:
        env = next(iter(catalog.environments))
    for name, tier in catalog.tiers.items():
        decision = place(catalog, Request("", groups, name, env), states)
        problem = None if decision.site else "; ".join(decision.reasons)
        if problem is None and first_ok is None:
            first_ok = name
        rows.append((name, tier, decision, problem))
    chosen = selected.get("tier")
    ok_names = [n for n, _, d, _ in rows if d.site]
    if chosen not in ok_names:
        marked = [n for n in ok_names if catalog.tiers[n].default]
        chosen = (marked or [first_ok])[0]
    for name, tier, decision, problem in rows:
        site = decision.site or (catalog.tier_sites(name) or [""])[0]
        state = states.get(site)
        where = ""
        if state is not None:
            title = state.display_name or site
            price = f", {state.cost_per_hour:g}/h" if state.cost_per_hour else ""
            where = (
                f"on <b>{escape(title)}</b> ({escape(site)}{escape(price)}): {escape(availability(state))}"
            )
        attrs = " checked" if name == chosen else ""
        attrs += " disabled" if problem else ""
        css = "jh-tier jh-disabled" if problem else "jh-tier"
        out.append(
            f'<label class="{css}" data-tier="{escape(name)}" data-site="{escape(decision.site or "")}">'
            f'<input type="radio" name="tier" value="{escape(name)}"{attrs}>'
            f"<strong>{escape(tier.display_name or name)}</strong>"
            f'<span class="jh-size">{escape(tier_size(tier))}</span>'
            + (f'<div class="jh-desc">{escape(tier.description)}</div>' if tier.description else "")
            + (f'<div class="jh-where">{where}</div>' if where else "")
            + (f'<div class="jh-why">Unavailable: {escape(problem)}</div>' if problem else "")
            + "</label>"
        )
    out.append("</fieldset>")
    out.append('<label for="jh-environment"><b>Environment</b></label>')
    out.append('<select class="form-select" id="jh-environment" name="environment">')
    chosen_env = selected.get("environment")
    for name, env in catalog.environments.items():
        problem = access_problem(catalog, "environments", name, groups) or env_problems.get(name)
        label = env.display_name or name
        if problem:
            label += f" (unavailable: {problem})"
        attrs = (" selected" if name == chosen_env or (chosen_env is None and env.default) else "") + (
            " disabled" if problem else ""
        )
        out.append(f'<option value="{escape(name)}"{attrs}>{escape(label)}</option>')
    out.append("</select></div>")
    return "\n".join(out)
