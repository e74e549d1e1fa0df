"""The spawn form: every tier with where it would run now, its price and wait, or why it cannot
start; environments, datasets (with where each may be processed), each tier's options, and the
sites with their live state. Pure: it renders from the catalog, site states and usage it is given.

It works without JavaScript (every field is a plain form field); a small inline script only shows
the selected tier's options and the "Other..." text box when it is chosen.
"""

from __future__ import annotations

import re
from html import escape

from ..catalog import Catalog, Tier, TierOption, format_bytes
from ..placement import Decision, Request, Usage, access_problem
from ..sitedata import SiteState
from .fit import SiteProblems, environment_problem, place_with_environment
from .options import MAX_VALUE, OTHER

STYLE = """
<style>
.jh-hybrid fieldset { border: 0; padding: 0; margin: 0 0 1em; }
.jh-hybrid legend { font-size: 1.1em; font-weight: 600; }
.jh-tier { display: block; border: 1px solid #ccc; border-radius: 6px; padding: .6em .8em;
  margin: .4em 0; cursor: pointer; }
.jh-tier.jh-disabled { opacity: .6; cursor: not-allowed; background: #f6f6f6; }
.jh-tier input { margin-right: .5em; }
.jh-size { color: #555; margin-left: .5em; }
.jh-where, .jh-why, .jh-desc, .jh-wait { font-size: .9em; margin: .2em 0 0 1.6em; }
.jh-why, .jh-unreachable { color: #a4000f; }
.jh-wait { color: #8a5a00; }
.jh-dataset { display: block; margin: .2em 0; }
.jh-dataset small, .jh-sites li small { color: #555; }
.jh-option { margin: .3em 0; }
.jh-option input[type=text]:invalid { border-color: #a4000f; }
.jh-notice { border-left: 4px solid #e0a800; padding: .4em .8em; background: #fff8e1; }
</style>
"""

SCRIPT = f"""
<script>
(function () {{
  var form = document.currentScript.parentNode;
  function sync() {{
    var tier = form.querySelector('input[name="tier"]:checked');
    form.querySelectorAll("fieldset[data-options-for]").forEach(function (f) {{
      var on = !!tier && f.getAttribute("data-options-for") === tier.value;
      f.disabled = !on;
      f.hidden = !on;
    }});
    form.querySelectorAll("select[data-other]").forEach(function (s) {{
      var text = document.getElementById(s.getAttribute("data-other"));
      if (text) {{ text.disabled = s.value !== "{OTHER}"; text.hidden = text.disabled; }}
    }});
  }}
  form.addEventListener("change", sync);
  sync();
}})();
</script>
"""


def tier_size(tier: Tier) -> str:
    gpu = "no GPU"
    if tier.gpu:
        kind = f"{tier.gpu_model} " if tier.gpu_model else ""
        if tier.mig:
            kind += f"MIG {tier.mig} slice"
            gpu = f"{tier.gpu} {kind}{'s' if tier.gpu > 1 else ''}"
        else:
            gpu = f"{tier.gpu} {kind}GPU{'s' if tier.gpu > 1 else ''}"
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


def price_text(price: float | None) -> str:
    return "no hourly charge" if not price else f"{price:g}/h"


def wait_text(seconds: float) -> str:
    """'starts in about 4 min (a node is added)'."""
    return f"starts in about {max(1, round(seconds / 60))} min (a node is added)"


def _tier_environments(catalog: Catalog, tier: str, wanted: object, groups: frozenset[str]) -> list[str]:
    """The environments this user may run with ``tier``: the one they want (or the default) first."""
    allowed = [
        n for n in catalog.tier_environments(tier) if not access_problem(catalog, "environments", n, groups)
    ]
    first = wanted if wanted in allowed else catalog.default_name("environments", allowed)
    return [first, *(n for n in allowed if n != first)] if first else []


def _tier_decision(
    catalog: Catalog, tier: str, envs: list[str], base: Request, states, env_problems
) -> tuple[Decision, str | None]:
    """Placement with the first environment, else the first other one that can start (and its name)."""
    if not envs:
        return Decision(None, [f"no environment offered with tier {tier!r} is available to you"]), None
    first = None
    for env in envs:
        request = Request(base.user, base.groups, tier, env, base.datasets, base.usage)
        decision = place_with_environment(catalog, request, states, env_problems)
        if decision.site:
            return decision, (None if env == envs[0] else env)
        first = first or decision
    return first, None


def _datasets(catalog: Catalog, selected: object, groups: frozenset[str]) -> tuple[str, ...]:
    if not isinstance(selected, list):
        return ()
    return tuple(
        n
        for n in dict.fromkeys(selected)
        if isinstance(n, str) and n in catalog.datasets and not access_problem(catalog, "datasets", n, groups)
    )


def _tier_row(
    catalog: Catalog,
    name: str,
    tier: Tier,
    decision: Decision,
    states: dict[str, SiteState],
    checked: bool,
    with_env: str | None = None,
) -> str:
    problem = None if decision.site else "; ".join(decision.reasons)
    where = ""
    wait = ""
    if decision.site:
        state = states.get(decision.site)
        spec = catalog.sites.get(decision.site)
        title = (state.display_name if state else "") or (spec.display_name if spec else "") or decision.site
        region = state.region if state else ""
        live = f": {availability(state)}" if state else ""
        where = (
            f"would run on <b>{escape(title)}</b> ({escape(decision.site)}, region {escape(region)}), "
            f"{escape(price_text(decision.price))}{escape(live)}"
        )
        if with_env:
            where += f" — with the environment <b>{escape(with_env)}</b>"
        if decision.wait_seconds is not None:
            wait = wait_text(decision.wait_seconds)
    attrs = (" checked" if checked else "") + (" disabled" if problem else "")
    css = "jh-tier jh-disabled" if problem else "jh-tier"
    return (
        f'<label class="{css}" data-tier="{escape(name)}" data-site="{escape(decision.site or "")}">'
        f'<input type="radio" name="tier" value="{escape(name)}"{attrs}>'
        f"<strong>{escape(tier.display_name or name)}</strong>"
        f'<span class="jh-size">{escape(tier_size(tier))}</span>'
        + (f'<div class="jh-desc">{escape(tier.description)}</div>' if tier.description else "")
        + (f'<div class="jh-where">{where}</div>' if where else "")
        + (f'<div class="jh-wait">{escape(wait)}</div>' if wait else "")
        + (f'<div class="jh-why">Unavailable: {escape(problem)}</div>' if problem else "")
        + "</label>"
    )


#: what the browser's ``v``-flag regex syntax reserves in a character class: these alone, and these doubled
_CLASS_SYNTAX = set("()[]{}/-\\|")
_CLASS_DOUBLE = set("&!#$%*+,.:;<=>?@^`~")
#: escapes of punctuation valid with the ``v`` flag outside a class (``\\-`` or ``\\:`` are not)
_SYNTAX = set("^$\\.*+?()[]{}|/")
_QUANTIFIER = re.compile(r"\{(\d*)(,\d*)?\}")


def browser_pattern(regex: str) -> str:
    """A ``validation_regex`` (Python syntax) as an HTML ``pattern`` with the same meaning.

    Browsers compile ``pattern`` with the ``v`` flag and silently drop one that does not compile,
    and with it every check in the form: ``[a-z0-9._-]`` (a bare ``-`` or ``/`` in a class), a
    literal ``{``, ``\\-`` outside a class and ``(?P<name>`` are Python but not ``v`` syntax."""
    out: list[str] = []
    i, n, in_class, can_range, range_end = 0, len(regex), False, False, False

    def class_char(c: str, nxt: str) -> str:
        return "\\" + c if c in _CLASS_SYNTAX or (c in _CLASS_DOUBLE and nxt == c) else c

    while i < n:
        c, nxt = regex[i], regex[i + 1 : i + 2]
        if c == "\\" and nxt:
            i += 2
            if nxt.isalnum() or nxt == "_":
                out.append({"A": "^", "Z": "$"}.get(nxt, "\\" + nxt) if not in_class else "\\" + nxt)
                can_range, range_end = nxt not in "dDsSwW" and not range_end, False
            elif in_class:
                out.append(class_char(nxt, regex[i : i + 1]) if nxt not in _SYNTAX else "\\" + nxt)
                can_range, range_end = not range_end, False
            else:
                out.append("\\" + nxt if nxt in _SYNTAX else nxt)
            continue
        i += 1
        if in_class:
            if c == "]":
                in_class = False
                out.append(c)
            elif c == "-" and can_range and nxt not in ("", "]"):
                out.append(c)  # a range: its end is the next character or escape
                can_range, range_end = False, nxt == "\\"
                if nxt != "\\":
                    out.append(class_char(nxt, regex[i + 1 : i + 2]))
                    i += 1
            else:
                out.append(class_char(c, nxt))
                can_range = True
        elif c == "[":
            in_class, can_range = True, False
            out.append(c)
            if regex.startswith("^", i):
                out.append("^")
                i += 1
            if regex.startswith("]", i):  # a literal "]" first in a Python class
                out.append("\\]")
                i, can_range = i + 1, True
        elif c == "{":
            m = _QUANTIFIER.match(regex, i - 1)
            if m and (m.group(1) or m.group(2)):  # {,n} and {,}: from 0 in Python
                out.append("{" + (m.group(1) or "0") + (m.group(2) or "") + "}")
                i = m.end()
            else:
                out.append("\\{")  # a literal brace in Python
        elif c in "}]":
            out.append("\\" + c)
        elif c == "(" and regex.startswith("?P<", i):
            out.append("(?<")
            i += 3
        else:
            out.append(c)
    return "".join(out)


def _option_field(tier: str, name: str, option: TierOption, value: str | None) -> str:
    """One tier option: a select of its choices (+ "Other..."), and a text box for an unlisted value."""
    field_id = f"jh-opt-{tier}-{name}"
    unlisted = option.unlisted_choice if option.unlisted_choice and option.unlisted_choice.enabled else None
    other = value is not None and value not in option.choices and unlisted is not None
    if value is None or (value not in option.choices and not other):
        marked = [c for c, choice in option.choices.items() if choice.default]
        value = (marked or list(option.choices) or [None])[0]
    label = escape(option.display_name or name)
    out = [f'<div class="jh-option"><label for="{escape(field_id)}">{label}</label> ']
    text_id = f"{field_id}-unlisted"
    if option.choices:
        data_other = f' data-other="{escape(text_id)}"' if unlisted else ""
        out.append(
            f'<select class="form-select" name="option-{escape(name)}" id="{escape(field_id)}"{data_other}>'
        )
        for slug, choice in option.choices.items():
            sel = " selected" if slug == value and not other else ""
            out.append(f'<option value="{escape(slug)}"{sel}>{escape(choice.display_name or slug)}</option>')
        if unlisted:
            sel = " selected" if other else ""
            out.append(f'<option value="{OTHER}"{sel}>{escape(unlisted.display_name_in_choices)}</option>')
        out.append("</select>")
    if unlisted:
        attrs = f' id="{escape(text_id)}"' if option.choices else f' id="{escape(field_id)}"'
        if unlisted.validation_regex is not None:
            hint = unlisted.validation_message or f"must match {unlisted.validation_regex}"
            attrs += f' pattern="{escape(browser_pattern(unlisted.validation_regex))}" title="{escape(hint)}"'
        if not option.choices:
            attrs += " required"
        typed = escape(value) if other else ""
        out.append(
            f'<input type="text" class="form-control" name="option-{escape(name)}-unlisted"{attrs}'
            f' maxlength="{MAX_VALUE}" placeholder="{escape(unlisted.display_name)}" value="{typed}"'
            f' aria-label="{escape(unlisted.display_name)}">'
        )
    out.append("</div>")
    return "".join(out)


def _options_section(
    catalog: Catalog, groups: frozenset[str], chosen: str | None, selected: dict
) -> list[str]:
    out = []
    saved = selected.get("options") if selected.get("tier") == chosen else None
    saved = saved if isinstance(saved, dict) else {}
    for name, tier in catalog.tiers.items():
        if not tier.options or access_problem(catalog, "tiers", name, groups):
            continue
        hide = "" if name == chosen else " disabled hidden"
        out.append(f'<fieldset class="jh-options" data-options-for="{escape(name)}"{hide}>')
        out.append(f"<legend>Options for {escape(tier.display_name or name)}</legend>")
        for opt_name, option in tier.options.items():
            value = saved.get(opt_name) if name == chosen else None
            out.append(_option_field(name, opt_name, option, value if isinstance(value, str) else None))
        out.append("</fieldset>")
    return out


def _datasets_section(
    catalog: Catalog, groups: frozenset[str], chosen: tuple[str, ...], states: dict[str, SiteState]
) -> list[str]:
    if not catalog.datasets:
        return []
    out = ["<fieldset><legend>Datasets</legend>"]
    for name, dataset in catalog.datasets.items():
        problem = access_problem(catalog, "datasets", name, groups)
        where = "may be processed in " + (" or ".join(dataset.regions) if dataset.regions else "any region")
        sites = ", ".join(
            f"{(states[s].display_name if s in states else '') or s} ({catalog.sites[s].region})"
            if s in catalog.sites
            else s
            for s in dataset.locations
        )
        attrs = (" checked" if name in chosen else "") + (" disabled" if problem else "")
        out.append(
            f'<label class="jh-dataset" data-dataset="{escape(name)}">'
            f'<input type="checkbox" name="datasets" value="{escape(name)}"{attrs}> '
            f"<strong>{escape(dataset.display_name or name)}</strong> "
            f"<small>{escape(where)}; stored on {escape(sites)}</small>"
            + (f'<div class="jh-desc">{escape(dataset.description)}</div>' if dataset.description else "")
            + (f'<div class="jh-why">Unavailable: {escape(problem)}</div>' if problem else "")
            + "</label>"
        )
    out.append("</fieldset>")
    return out


def _sites_section(catalog: Catalog, states: dict[str, SiteState]) -> list[str]:
    out = ['<fieldset class="jh-sites"><legend>Sites</legend><ul>']
    for name, spec in catalog.sites.items():
        state = states.get(name)
        title = (state.display_name if state else "") or spec.display_name or name
        kind = "on-prem" if spec.on_prem else "cloud"
        head = (
            f"<b>{escape(title)}</b> <small>({escape(name)}, {kind}, region {escape(spec.region)})</small>: "
        )
        if state is None:
            out.append(f'<li data-site="{escape(name)}" class="jh-unreachable">{head}no live state</li>')
        elif not state.reachable:
            out.append(
                f'<li data-site="{escape(name)}" class="jh-unreachable">{head}'
                f"Unavailable: {escape(state.error or 'unreachable')}</li>"
            )
        else:
            out.append(f'<li data-site="{escape(name)}">{head}{escape(availability(state))}</li>')
    out.append("</ul></fieldset>")
    return out


def render_form(
    catalog: Catalog,
    states: dict[str, SiteState],
    groups: frozenset[str],
    selected: dict,
    env_problems: SiteProblems,
    notice: str | None = None,
    usage: Usage | None = None,
    user: str = "",
) -> str:
    """The form's HTML. ``selected``: the user's previous options (unchecked: only preselects);
    ``env_problems``: environment -> site -> why it cannot run there."""
    selected = selected if isinstance(selected, dict) else {}
    usage = usage or Usage()
    datasets = _datasets(catalog, selected.get("datasets"), groups)
    out = [STYLE, '<div class="jh-hybrid">']
    if notice:
        out.append(f'<p class="jh-notice" role="alert">{escape(notice)}</p>')
    rows = []
    for name, tier in catalog.tiers.items():
        envs = _tier_environments(catalog, name, selected.get("environment"), groups)
        base = Request(user, groups, name, "", datasets, usage)
        decision, other_env = _tier_decision(catalog, name, envs, base, states, env_problems)
        rows.append((name, tier, decision, other_env and catalog.title("environments", other_env)))
    ok = [n for n, _, d, _ in rows if d.site]
    chosen = selected.get("tier")
    if chosen not in ok:
        marked = [n for n in ok if catalog.tiers[n].default]
        chosen = (marked or ok or [None])[0]
    out.append("<fieldset><legend>Hardware tier</legend>")
    out += [_tier_row(catalog, n, t, d, states, n == chosen, e) for n, t, d, e in rows]
    out.append("</fieldset>")
    out.append('<label for="jh-environment"><b>Environment</b></label>')
    out.append('<select class="form-select" id="jh-environment" name="environment">')
    chosen_env = selected.get("environment")
    for name, env in catalog.environments.items():
        problem = access_problem(catalog, "environments", name, groups) or environment_problem(
            env_problems, name
        )
        label = env.display_name or name
        offered = [
            t for t, tier in catalog.tiers.items() if not tier.environments or name in tier.environments
        ]
        if len(offered) < len(catalog.tiers):
            label += f" (only with: {', '.join(offered) or 'no tier'})"
        if problem:
            label += f" (unavailable: {problem})"
        attrs = (" selected" if name == chosen_env or (chosen_env is None and env.default) else "") + (
            " disabled" if problem else ""
        )
        out.append(f'<option value="{escape(name)}"{attrs}>{escape(label)}</option>')
    out.append("</select>")
    out += _datasets_section(catalog, groups, datasets, states)
    out += _options_section(catalog, groups, chosen, selected)
    out += _sites_section(catalog, states)
    out.append(SCRIPT)
    out.append("</div>")
    return "\n".join(out)
