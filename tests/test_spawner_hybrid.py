"""HybridSpawner against a catalog of several LOCAL sites (no cluster here): placement through the
spawner, quotas from every site's allocations (and after a hub restart), datasets and tier-option
overrides handed to the site, unreachable or slow sites, and the REST/form paths' 400s."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest
import yaml
from tornado import web
from traitlets.config import Config

from jupyter_hybrid.gpu.devices import GpuDevice
from jupyter_hybrid.sites import LocalSite
from jupyter_hybrid.spawner import hybrid
from jupyter_hybrid.spawner.hybrid import REGISTRY, HybridSpawner

GiB = 1024**3
OVER = {"cpu": 4, "memory": 4}  # each site promises 4 cores and 4x its memory to servers
CATALOG = {
    "sites": {
        "onprem": {"region": "eu-central-1", "max_cpu": 1, "max_memory": "2G", "overcommit": OVER},
        "cloud": {
            "region": "eu-west-1",
            "on_prem": False,
            "cost_per_hour": 1,
            "max_cpu": 1,
            "overcommit": OVER,
        },
        "us": {
            "region": "us-east-1",
            "on_prem": False,
            "cost_per_hour": 0.5,
            "max_cpu": 1,
            "overcommit": OVER,
        },
    },
    "tiers": {
        "cpu": {"cpu": 1, "memory": "1G", "default": True},
        "gpu": {
            "cpu": 1,
            "memory": "1G",
            "gpu": 1,
            "gpu_model": "A100",
            "options": {
                "image": {
                    "choices": {"v1": {"default": True, "kubespawner_override": {"image": "quay.io/x:1"}}},
                    "unlisted_choice": {
                        "enabled": True,
                        "validation_regex": r"quay\.io/x:[0-9]+",
                        "kubespawner_override": {"image": "{value}"},
                    },
                }
            },
        },
    },
    "environments": {"default": {"default": True}, "image-only": {"image": "quay.io/x:1"}},
    "datasets": {
        "claims": {
            "regions": ["eu-*"],
            "locations": {s: {"path": f"DATA/{s}/claims"} for s in ("onprem", "cloud", "us")},
        }
    },
    "quotas": {"per_user": {"gpus": 1}, "per_group": {"ml": {"gpus": 2}}},
}


class GpuSite(LocalSite):
    """A local site that reports two A100s (this machine has no GPU)."""

    def _gpus(self):
        return [GpuDevice(i, f"GPU-{i}", "NVIDIA A100-SXM4-80GB", 80 * GiB) for i in range(2)], None


class DownSite(LocalSite):
    async def refresh(self):
        raise ConnectionError("connection refused")


class SlowSite(LocalSite):
    async def refresh(self):
        await asyncio.sleep(5)
        return self.state()


class RecordingSite(GpuSite):
    """Records what the spawner hands to the site, then fails the start (nothing is launched)."""

    calls: list = []

    def server_spawner(self, parent, tier, env, names, allocation, datasets=None, overrides=None):
        RecordingSite.calls.append((names, allocation, datasets, overrides))
        raise RuntimeError("this test launches no server")


#: the store_url every spawner of a test gets (the `store` fixture): a fresh SQLite file, or "" (no ledger)
STORE = {"url": ""}


@pytest.fixture(autouse=True, params=["ledger", "in-process"])
def store(request, tmp_path):
    """Each test twice: servers recorded in a store's allocation ledger, and counted in-process only."""
    STORE["url"] = f"sqlite:///{tmp_path / 'hybrid.sqlite'}" if request.param == "ledger" else ""
    yield STORE["url"]
    ledger = hybrid._LEDGERS.pop(STORE["url"], None)
    if ledger is not None:
        ledger.engine.dispose()
    STORE["url"] = ""


@pytest.fixture
def catalog_file(tmp_path):
    for site in CATALOG["sites"]:
        (tmp_path / "data" / site / "claims").mkdir(parents=True)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(CATALOG).replace("DATA/", f"{tmp_path}/data/"))
    saved_sites, saved_logged = dict(REGISTRY.sites), dict(hybrid._LOGGED)
    REGISTRY.sites.clear()
    hybrid._LOGGED.clear()
    yield path
    REGISTRY.sites.clear()
    REGISTRY.sites.update(saved_sites)
    hybrid._LOGGED.clear()
    hybrid._LOGGED.update(saved_logged)


def use(name, cls):
    """Put a site object of ``cls`` in the hub's registry (before the spawner syncs it)."""
    from jupyter_hybrid.catalog import parse_catalog

    site = REGISTRY.sites[name] = cls(name, parse_catalog(CATALOG).sites[name])
    site.ledger = hybrid.ledger_for(STORE["url"]) if STORE["url"] else None  # as the hub's spawner sets it
    return site


def spawner(catalog_file, user, groups=(), server="", **settings) -> HybridSpawner:
    owner = SimpleNamespace(
        name=user, groups=[SimpleNamespace(name=g) for g in groups], url=f"/user/{user}/", escaped_name=user
    )
    orm = SimpleNamespace(name=server, user_options=None, server=None)
    settings = {"catalog_file": str(catalog_file), "store_url": STORE["url"], **settings}
    sp = HybridSpawner(user=owner, orm_spawner=orm, config=Config({"HybridSpawner": settings}))
    sp._sites()  # as in a hub, the sites are synced (and read the ledger) before anyone spawns
    return sp


def hold(site, key, tier_name, user, groups=()):
    """Another server holding capacity on ``site`` (as start() leaves it)."""
    from jupyter_hybrid.catalog import parse_catalog

    tier = parse_catalog(CATALOG).tiers[tier_name]
    return site.hold(key, tier, owner=user, groups=groups, tier_name=tier_name)


def refused(coro) -> str:
    with pytest.raises(web.HTTPError) as e:
        asyncio.run(coro)
    assert e.value.status_code == 400
    return e.value.log_message


def test_on_prem_first_then_cheapest_cloud_within_the_dataset_region(catalog_file):
    onprem, cloud, _ = (use(name, GpuSite) for name in ("onprem", "cloud", "us"))
    alice = spawner(catalog_file, "alice")
    first = asyncio.run(alice.resolve({"tier": "gpu"}))
    assert first.site == "onprem" and first.decision.price == 0
    hold(onprem, "bob/", "gpu", "bob")
    hold(onprem, "carol/", "gpu", "carol")  # both on-prem A100s taken
    assert asyncio.run(alice.resolve({"tier": "gpu"})).site == "us"  # the cheapest cloud site
    with_claims = asyncio.run(alice.resolve({"tier": "gpu", "datasets": ["claims"]}))
    assert with_claims.site == "cloud" and with_claims.decision.price == 1  # us-east-1 may not process it
    assert (
        "us: dataset 'claims' may only be processed in eu-*; us is in us-east-1"
        in with_claims.decision.reasons
    )
    hold(cloud, "dave/", "gpu", "dave")
    hold(cloud, "erin/", "gpu", "erin")
    message = refused(alice.resolve({"tier": "gpu", "datasets": ["claims"]}))
    assert "cannot start now" in message and "may only be processed in eu-*" in message


def test_user_and_group_gpu_quotas_count_every_site(catalog_file):
    onprem, cloud = use("onprem", GpuSite), use("cloud", GpuSite)
    alice = spawner(catalog_file, "alice", ["ml"], server="second")
    hold(cloud, "alice/first", "gpu", "alice", ["ml"])
    assert "quota: you use 1 of 1 GPUs" in refused(alice.resolve({"tier": "gpu"}))
    assert asyncio.run(alice.resolve({"tier": "cpu"})).site == "onprem"  # CPU tiers still start
    hold(onprem, "bob/", "gpu", "bob", ["ml"])
    dave = spawner(catalog_file, "dave", ["ml"])
    assert "quota: group ml uses 2 of 2 GPUs" in refused(dave.resolve({"tier": "gpu"}))
    erin = spawner(catalog_file, "erin")  # not in ml: only her own quota applies
    assert asyncio.run(erin.resolve({"tier": "gpu"})).site == "onprem"


def test_quota_usage_comes_back_after_a_hub_restart(catalog_file):
    use("onprem", GpuSite)
    first = spawner(catalog_file, "alice", ["ml"], server="first")
    resolution = asyncio.run(first.resolve({"tier": "gpu", "datasets": ["claims"]}))
    catalog, site = first.catalog, REGISTRY.get(resolution.site)
    # what start() leaves behind once the server runs (the child is the real LocalProcessSpawner)
    first.allocation = hold(site, first._key, "gpu", "alice", ["ml"])
    first.choice, first.site_name = resolution.choice, resolution.site
    first.child = site.server_spawner(first, None, None, {}, first.allocation)
    state = first.get_state()
    assert state["hybrid"]["datasets"] == ["claims"] and state["hybrid"]["options"] == {"image": "v1"}
    assert state["hybrid"]["allocation"]["user"] == "alice" and state["hybrid"]["allocation"]["groups"] == [
        "ml"
    ]

    REGISTRY.sites.clear()  # a new hub process: no site remembers anything
    use("onprem", GpuSite)
    restored = spawner(catalog_file, "alice", ["ml"], server="first")
    restored.load_state(state)
    assert restored.choice == resolution.choice and restored.site_name == "onprem"
    assert REGISTRY.get("onprem").allocations["alice/first"].gpu_count == 1
    second = spawner(catalog_file, "alice", ["ml"], server="second")
    assert "quota: you use 1 of 1 GPUs" in refused(second.resolve({"tier": "gpu"}))
    restored.clear_state()  # the server stopped: its GPU counts no more
    assert asyncio.run(second.resolve({"tier": "gpu"})).site == "onprem"
    assert catalog.quotas.per_user.gpus == 1


def test_start_hands_datasets_and_option_overrides_to_the_site_and_releases_on_failure(catalog_file):
    onprem = use("onprem", GpuSite)
    cloud = use("cloud", RecordingSite)
    hold(onprem, "bob/", "gpu", "bob")
    hold(onprem, "carol/", "gpu", "carol")  # on-prem A100s taken: cloud (eu) is chosen for claims
    RecordingSite.calls.clear()
    alice = spawner(catalog_file, "alice", ["ml"])
    options = {"tier": "gpu", "datasets": ["claims"]}
    alice.user_options = options
    asyncio.run(alice._apply_user_options(alice, options))
    with pytest.raises(RuntimeError, match="launches no server"):
        asyncio.run(alice.start())
    ((names, allocation, datasets, overrides),) = RecordingSite.calls
    assert names == {"tier": "gpu", "site": "cloud", "environment": "default"}
    assert datasets == {"claims": alice.catalog.datasets["claims"].locations["cloud"]}
    assert overrides == {"image": "quay.io/x:1"}  # the option's default choice
    assert (allocation.user, allocation.groups, allocation.gpu_count) == ("alice", ["ml"], 1)
    assert cloud.allocations == {} and alice.child is None  # nothing held after the failed start
    progress = asyncio.run(_first_progress(alice))
    assert progress["message"].startswith("Placement: ") and "cloud chosen" in progress["message"]

    # an unlisted value reaches the site as the templated override; start() resolves by itself
    # when apply_user_options did not run (or ran with other options)
    alice.user_options = {"tier": "gpu", "options": {"image": "quay.io/x:42"}}
    with pytest.raises(RuntimeError):
        asyncio.run(alice.start())
    assert RecordingSite.calls[-1][3] == {"image": "quay.io/x:42"} and RecordingSite.calls[-1][2] == {}


async def _first_progress(sp):
    async for event in sp.progress():
        return event


def test_unreachable_and_slow_sites_are_skipped_and_logged_once(catalog_file, caplog):
    use("onprem", DownSite)
    use("us", SlowSite)
    alice = spawner(catalog_file, "alice", site_state_timeout=0.2)
    with caplog.at_level(logging.WARNING):
        states = asyncio.run(alice.site_states())
        asyncio.run(alice.site_states())
    assert (states["onprem"].reachable, states["onprem"].error) == (False, "connection refused")
    assert states["us"].error == "no answer within 0.2 s" and states["cloud"].reachable
    logged = [r.getMessage() for r in caplog.records if "is unavailable" in r.getMessage()]
    assert sorted(logged) == [
        "Site onprem is unavailable: connection refused",
        "Site us is unavailable: no answer within 0.2 s",
    ]
    resolution = asyncio.run(alice.resolve({"tier": "cpu"}))
    assert resolution.site == "cloud"
    assert "onprem: onprem is unreachable: connection refused" in resolution.decision.reasons
    html = asyncio.run(alice.get_options_form())
    # a user reads one short line per site that is down; a hub admin reads its error
    assert "connection refused" not in html and 'data-site="cloud"' in html
    assert "</small>: unavailable right now</li>" in html
    alice.user.admin = True
    assert "Unavailable: connection refused" in asyncio.run(alice.get_options_form())


def test_environment_a_site_cannot_run_is_placed_elsewhere_or_refused(catalog_file):
    alice = spawner(catalog_file, "alice")
    message = refused(alice.resolve({"tier": "cpu", "environment": "image-only"}))
    assert "environment 'image-only' cannot run here: it is a container image" in message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tier": "cpu", "site": "us"}, "unknown option(s) 'site'"),
        ({"tier": "cpu", "image": "evil/image"}, "unknown option(s) 'image'"),
        ({"tier": "gpu", "options": {"image": "quay.io/x:1\nevil"}}, "may not contain control characters"),
        ({"tier": "gpu", "options": {"image": "quay.io/x:1-evil"}}, r"must match quay\.io/x:[0-9]+"),
        ({"datasets": ["nope"]}, "dataset 'nope' is not in the catalog"),
    ],
)
def test_rest_and_saved_options_are_checked_again(catalog_file, options, message):
    alice = spawner(catalog_file, "alice")
    assert message in refused(alice._apply_user_options(alice, options))


def test_form_post_is_parsed_with_the_catalog_and_checked(catalog_file):
    use("onprem", GpuSite)
    alice = spawner(catalog_file, "alice")
    form = {"tier": ["gpu"], "option-image": ["__other__"], "option-image-unlisted": ["quay.io/x:7"]}
    options = asyncio.run(alice.run_options_from_form(form))
    assert options == {"tier": "gpu", "options": {"image": "quay.io/x:7"}}
    form["option-image-unlisted"] = ["quay.io/x:7 && evil"]
    assert r"must match quay\.io/x:[0-9]+" in refused(alice.run_options_from_form(form))
    assert "unknown field 'site'" in refused(alice.options_from_query({"tier": ["cpu"], "site": ["us"]}))


def test_start_decides_again_when_quota_usage_changed_since_the_form(catalog_file):
    onprem = use("onprem", GpuSite)
    alice = spawner(catalog_file, "alice", server="a")
    alice.user_options = {"tier": "gpu"}
    asyncio.run(alice._apply_user_options(alice, alice.user_options))  # fits: alice holds nothing
    hold(onprem, "alice/b", "gpu", "alice")  # her other server started meanwhile
    assert "quota: you use 1 of 1 GPUs" in refused(alice.start())
    assert list(onprem.allocations) == ["alice/b"]  # nothing reserved for server a


# --- refusals: one WARNING line, nothing of them kept (issue 9 items 2 and 5) -------------------


def test_a_refusal_is_one_warning_line_and_the_refused_options_are_not_kept(catalog_file, caplog):
    alice = spawner(catalog_file, "alice")
    alice.orm_spawner.user_options = {"tier": "cpu"}  # her last spawn
    alice._kept_options = {"tier": "cpu"}
    huge = {"tier": "x" * 1_000_000}
    # as JupyterHub does for POST /users/alice/server: save the body, then apply_user_options
    alice.orm_spawner.user_options = alice.user_options = huge
    with caplog.at_level(logging.DEBUG):
        message = refused(alice._apply_user_options(alice, huge))
    assert "1,000,000 characters long" in message and len(message) < 300
    assert alice.orm_spawner.user_options == {"tier": "cpu"} and alice.user_options == {"tier": "cpu"}
    lines = [r for r in caplog.records if r.name != "asyncio"]
    assert [(r.levelname, r.getMessage()[:20]) for r in lines] == [("WARNING", "Refused to start ali")]
    assert len(lines[0].getMessage()) < 400 and not lines[0].exc_info

    # the form path and start() refuse the same way; what start() placed is kept
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        refused(alice.run_options_from_form({"tier": ["cpu"], "environment": ["image-only"]}))
        alice.user_options = {"tier": "cpu", "datasets": ["nope"]}
        refused(alice.start())
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert alice.orm_spawner.user_options == {"tier": "cpu"}


def test_the_hubs_own_records_of_a_refusal_are_dropped_others_pass():
    log = logging.getLogger("test-refusal-filter")
    log.addFilter(hybrid.RefusalFilter())
    log.setLevel(logging.DEBUG)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    log.addHandler(handler)
    try:
        try:
            raise hybrid.user_error(400, "tier 'x…' is not in the catalog")
        except web.HTTPError as e:
            log.exception("Exception applying user_options")  # JupyterHub's traceback
            log.error(f"Error starting alice's server: {e}")  # JupyterHub's line
            log.warning("%d %s: %s", 400, "POST /hub/api/users/alice/server", e.log_message)  # tornado's
            log.info("Stopping alice's server")  # anything else while the refusal is handled
            log.warning("Refused to start alice: %s", e.log_message, extra={hybrid._OURS: True})
        try:
            raise RuntimeError("a real bug")
        except RuntimeError:
            log.exception("Unhandled error starting alice's server")
    finally:
        log.removeHandler(handler)
    assert [r.getMessage()[:25] for r in records] == [
        "Stopping alice's server",
        "Refused to start alice: t",
        "Unhandled error starting ",
    ]


# --- local sites take no more than they have, unless the catalog overcommits (issue 10 item 4) ---


def test_a_local_site_takes_no_more_servers_than_its_cores_unless_overcommitted(tmp_path):
    def local_catalog(overcommit):
        site = {"max_cpu": 2, **({"overcommit": overcommit} if overcommit else {})}
        path = tmp_path / f"catalog-{bool(overcommit)}.yaml"
        path.write_text(
            yaml.safe_dump({"sites": {"local": site}, "tiers": {"two": {"cpu": 2, "memory": "1M"}}})
        )
        return path

    saved = dict(REGISTRY.sites)
    REGISTRY.sites.clear()
    try:
        path = local_catalog(None)
        alice, bob = spawner(path, "alice"), spawner(path, "bob")
        assert asyncio.run(alice.resolve({})).site == "local"
        REGISTRY.sync(alice.catalog)
        hold_two = parse_tier(path)
        REGISTRY.get("local").reserve("carol/", hold_two)  # a running 2-core server
        message = refused(bob.resolve({}))
        assert "local: needs 2 cores; 0 of 2 cores free (2 reserved by running servers)" in message
        # start() checks room again with no await before reserving: alice decided before carol started
        assert asyncio.run(_decided(alice, path))[1].site == "local"
        assert "0 of 2 cores free" in refused(alice.start())
        assert list(REGISTRY.get("local").allocations) == ["carol/"]

        over = local_catalog({"cpu": 2})
        dave = spawner(over, "dave")
        assert asyncio.run(dave.resolve({})).site == "local"  # 2 of the 4 promised cores are left
        REGISTRY.get("local").reserve("erin/", hold_two)
        message = refused(dave.resolve({}))
        assert (
            "needs 2 cores; running servers reserve 4 of the 4 cores (2 × overcommit 2) it may promise"
            in message
        )
    finally:
        REGISTRY.sites.clear()
        REGISTRY.sites.update(saved)


def parse_tier(path):
    from jupyter_hybrid.catalog import load_catalog

    return load_catalog(path).tiers["two"]


async def _decided(sp, path):
    """As JupyterHub does before start(): apply_user_options resolves with what is free now."""
    REGISTRY.get("local").release("carol/")
    sp.user_options = {}
    await sp._apply_user_options(sp, {})
    REGISTRY.get("local").reserve("carol/", parse_tier(path))
    return sp._resolved
