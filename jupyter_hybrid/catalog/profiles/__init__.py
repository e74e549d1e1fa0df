"""KubeSpawner ``profile_list`` <-> catalog tiers and environments (pure: data in, data out).

So that a hub already configured with KubeSpawner profiles can adopt the catalog without rewriting
its config (``import_profiles``), and a catalog can still feed a plain KubeSpawner
(``export_profiles``). Nothing a profile says is dropped: what has no catalog field of its own is
carried in ``tier.kubespawner_override``.
"""

from .common import ProfileError
from .exporter import export_profiles
from .importer import import_profiles, kubespawner_slug
from .locate import find_profile_list

__all__ = ["ProfileError", "export_profiles", "find_profile_list", "import_profiles", "kubespawner_slug"]
