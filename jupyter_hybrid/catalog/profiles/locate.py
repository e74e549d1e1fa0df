"""Finding the profile_list in a z2jh values file, a hub config or a bare list."""

from __future__ import annotations

from typing import Any

from ...quote import quote
from .common import IMAGE_KEYS, SEARCH_KEYS, SIZE_KEYS, Z2JH_DEFAULTS, Found, ProfileError, short


def _lookup(data: Any, path: str) -> Any:
    """``data`` at dotted ``path`` (integers index lists); KeyError naming the missing part."""
    node, seen = data, []
    for part in path.split(".") if path else []:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            here = ".".join(seen) or "the top level"
            if isinstance(node, dict):
                keys = ", ".join(short(k) for k in list(node)[:10]) + (", …" if len(node) > 10 else "")
            else:
                keys = type(node).__name__
            raise KeyError(f"no {quote(part)} under {here} (found: {keys or 'nothing'})")
        seen.append(part)
    return node


def _looks_like_profiles(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(isinstance(p, dict) for p in value)
    if isinstance(value, dict) and value:
        return all(isinstance(p, dict) and ("display_name" in p or "slug" in p) for p in value.values())
    return False


def _defaults(data: Any, key: str) -> dict[str, Any]:
    """What every profile inherits: z2jh ``singleuser.cpu/memory/image``, then ``hub.config.KubeSpawner``."""
    prefix, chart = "", False
    for suffix in (
        "singleuser.profileList",
        "hub.config.KubeSpawner.profile_list",
        "KubeSpawner.profile_list",
    ):
        if key == suffix or key.endswith("." + suffix):
            prefix, chart = key[: -len(suffix)], suffix != "KubeSpawner.profile_list"
            break
    out: dict[str, Any] = dict(Z2JH_DEFAULTS) if chart else {}  # what a z2jh values file leaves out

    def node(path: str) -> dict:
        try:
            found = _lookup(data, prefix + path)
        except KeyError:
            return {}
        return found if isinstance(found, dict) else {}

    single = node("singleuser")
    for what, kind in (("cpu", "cpu"), ("memory", "mem")):
        block = single.get(what)
        for level in ("limit", "guarantee"):
            if isinstance(block, dict) and level in block:  # null too: the chart's default unset
                out[f"{kind}_{level}"] = block[level]
    image = single.get("image") if isinstance(single.get("image"), dict) else {}
    if image.get("name"):
        out["image"] = f"{image['name']}:{image['tag']}" if image.get("tag") else str(image["name"])
    for traits in (node("hub.config.KubeSpawner"), node("KubeSpawner")):
        for k in (*SIZE_KEYS, *IMAGE_KEYS):
            if traits.get(k) is not None:
                out["image" if k == "image_spec" else k] = traits[k]
    return out


def find_profile_list(data: Any, key: str | None = None, source: str = "the file") -> Found:
    """Locate the profile_list (at ``key``, else the first of SEARCH_KEYS, else the whole file).

    A dict-shaped profile_list is turned into a list sorted by key, as KubeSpawner 7.1 does."""
    if key:
        try:
            value = _lookup(data, key)
        except KeyError as e:
            raise ProfileError(
                f"{source}: --key {key}: {e.args[0]}. Fix: give the dotted path of the profile_list"
            ) from None
        used = key
    else:
        used = next((k for k in SEARCH_KEYS if _has(data, k)), None)
        if used is None:
            if not _looks_like_profiles(data):
                raise ProfileError(
                    f"{source}: no profile_list found; tried the keys {', '.join(SEARCH_KEYS)} and the whole "
                    "file as a list (or dict) of profiles. Fix: pass --key PATH.TO.profileList"
                )
            used = ""
        value = _lookup(data, used)
    where = used or "the file"
    if isinstance(value, dict):
        items = [(f"{used}.{short(k)}" if used else f"profile {quote(k)}", value[k]) for k in sorted(value)]
    elif isinstance(value, list):
        items = [(f"{used}[{i}]" if used else f"profile #{i + 1}", p) for i, p in enumerate(value)]
    else:
        raise ProfileError(
            f"{source}: {where} holds a {type(value).__name__}, not a profile_list (a list or dict of "
            "profiles). Fix: point --key at the profile_list"
        )
    if not items:
        raise ProfileError(f"{source}: {where} is empty: there are no profiles to import")
    for w, p in items:
        if not isinstance(p, dict):
            raise ProfileError(f"{source}: {w}: a profile must be a mapping, got {type(p).__name__}")
    return Found(items, used, _defaults(data, used))


def _has(data: Any, key: str) -> bool:
    try:
        value = _lookup(data, key)
    except KeyError:
        return False
    return value is not None
