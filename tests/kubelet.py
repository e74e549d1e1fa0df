"""A scheduler + kubelet for one namespace of a kmock API server, running pods as local processes.

kmock stores pods and nothing runs them. ``Kubelet`` plays the two cluster parts a hub needs on
the other side, over the same HTTP API a real cluster offers (poll, merge-PATCH):

- **scheduler**: a Pending pod without ``spec.nodeName`` is bound to the first Ready node whose
  labels match its ``nodeSelector`` (and required node affinity ``In``/``NotIn``/``Exists``), whose
  ``NoSchedule`` taints it tolerates, and whose allocatable minus the requests of the live pods
  already bound there (every namespace) holds its requests. When none fits, the pod gets the
  condition ``PodScheduled=False, reason Unschedulable`` with a message shaped as the real
  scheduler's (``0/2 nodes are available: 1 Insufficient nvidia.com/gpu, ...``); it is tried again
  on every pass, as the scheduler does.
- **kubelet**: a bound pod of the namespace has its first container run for real, as a process of
  this machine: ``command + args`` (KubeSpawner puts its command line in ``args``) with the
  container's ``env`` (``value``; ``valueFrom`` fieldRef ``status.podIP``/``metadata.name``;
  ``envFrom`` secretRef read from the API). The pod then gets ``phase: Running``, ``podIP``
  (``pod_ip``, default 127.0.0.1) and Ready conditions; when the process exits the pod turns
  ``Failed``/``Succeeded``; when the pod is deleted (or replaced: a new uid) the process group gets
  SIGTERM, then SIGKILL after ``terminationGracePeriodSeconds``.

What is emulated and what is not (this is a test tool):

- **The image is ignored.** ``jupyterhub-singleuser`` (argv[0]) is this interpreter's own script
  in the same venv; any other argv[0] is looked up on PATH. A container with neither command nor
  args runs ``jupyterhub-singleuser``, as docker-stacks images' CMD does under a hub.
- **Network**: every pod shares this machine's network, at ``pod_ip``. The server must listen on
  the container port KubeSpawner declared (``notebook-port``; it connects to podIP + that port),
  so the hub sets ``c.KubeSpawner.port`` to a free port: one running pod per port. A bind address
  of 0.0.0.0 in ``JUPYTERHUB_SERVICE_URL`` (KubeSpawner's ``ip`` default, the pod's own network in a
  cluster) becomes ``pod_ip``; a non-loopback host in ``JUPYTERHUB_API_URL`` /
  ``JUPYTERHUB_ACTIVITY_URL`` becomes 127.0.0.1 (the hub runs here).
- **Volumes are not mounted** (``/data/NAME`` does not exist in the process); resources are not
  enforced (``MEM_LIMIT`` etc. are only env vars); ``workingDir`` is replaced by a folder per pod
  under ``workdir`` (also its HOME), where ``NAME.log`` holds the container's output.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from jupyter_hybrid.sites.kubernetes.capacity import node_ready, parse_quantity, pod_requests

BIN = Path(sys.executable).parent
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class Container:
    """One running pod: its process and where its output goes."""

    uid: str
    name: str  # the container's name
    proc: subprocess.Popen
    log: Path
    port: int
    grace: float
    stopping_since: float | None = None
    reported_exit: bool = False
    argv: list[str] = field(default_factory=list)


# --- scheduling (pure) ---------------------------------------------------------------------------


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for t in tolerations or []:
        if t.get("effect") and t["effect"] != taint.get("effect"):
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t["key"] == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _affinity_matches(spec: dict, labels: dict) -> bool:
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms")
    if not required:
        return True

    def expression(e):
        op, value = e["operator"], labels.get(e["key"])
        return {
            "In": value in e.get("values", []),
            "NotIn": value not in e.get("values", []),
            "Exists": e["key"] in labels,
            "DoesNotExist": e["key"] not in labels,
        }[op]

    return any(all(expression(e) for e in term.get("matchExpressions") or []) for term in required)


def schedule(pod: dict, nodes: list[dict], pods: list[dict]) -> tuple[str | None, str]:
    """(node name, "") where the pod fits now, or (None, the scheduler's message)."""
    spec = pod.get("spec") or {}
    wants = pod_requests(pod)
    used: dict[str, dict[str, float]] = {}
    for other in pods:
        node = (other.get("spec") or {}).get("nodeName")
        if not node or (other.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        bucket = used.setdefault(node, {})
        for k, v in pod_requests(other).items():
            bucket[k] = bucket.get(k, 0.0) + v
    reasons: dict[str, int] = {}
    for node in nodes:
        name = node["metadata"]["name"]
        labels = node["metadata"].get("labels") or {}
        why = []
        if not node_ready(node):
            why.append("node(s) were unschedulable or not ready")
        elif any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()) or not (
            _affinity_matches(spec, labels)
        ):
            why.append("node(s) didn't match Pod's node affinity/selector")
        else:
            for taint in (node.get("spec") or {}).get("taints") or []:
                if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
                    spec.get("tolerations"), taint
                ):
                    why.append(f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}")
            allocatable = (node.get("status") or {}).get("allocatable") or {}
            taken = used.get(name, {})
            # filters run in order and a node stops at the first that fails (taints, then resources);
            # the resource filter names every resource that is short
            for resource, amount in sorted(wants.items()) if not why else ():
                free = parse_quantity(allocatable.get(resource, 0)) - taken.get(resource, 0.0)
                if amount > 0 and amount > free + 1e-9:
                    why.append(f"Insufficient {resource}")
        if not why:
            return name, ""
        for reason in why:
            reasons[reason] = reasons.get(reason, 0) + 1
    detail = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    return None, f"0/{len(nodes)} nodes are available: {detail}."


# --- the emulator --------------------------------------------------------------------------------


class Kubelet:
    """Start with ``with Kubelet(api_url, namespace, workdir) as kubelet:``; see the module docstring."""

    def __init__(self, api_url: str, namespace: str, workdir: Path, pod_ip: str = "127.0.0.1", every=0.1):
        self.api_url, self.namespace, self.pod_ip, self.every = api_url.rstrip("/"), namespace, pod_ip, every
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.containers: dict[str, Container] = {}  # pod name -> running container
        self.last_error: str | None = None  # the last API error (the API server may be gone)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"kubelet-{namespace}", daemon=True)

    def __enter__(self) -> Kubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)
        for name in list(self.containers):
            self._kill(name, now=True)

    def logs(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- API ---------------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            self.api_url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/merge-patch+json", "Authorization": "Bearer kubelet"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def _patch_pod(self, name: str, body: dict) -> None:
        try:
            self._call("PATCH", f"/api/v1/namespaces/{self.namespace}/pods/{name}", body)
        except urllib.error.HTTPError as e:
            if e.code != 404:  # deleted meanwhile: the next pass stops its process
                raise

    # --- one pass ----------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
                self.last_error = None
            except (OSError, urllib.error.URLError, ValueError) as e:
                self.last_error = str(e)  # API server away: keep the containers running, as a kubelet does
            self._reap()
            self._stop.wait(self.every)

    def sync(self) -> None:
        nodes = self._call("GET", "/api/v1/nodes")["items"]
        pods = self._call("GET", "/api/v1/pods")["items"]
        mine = {p["metadata"]["name"]: p for p in pods if p["metadata"].get("namespace") == self.namespace}
        for name, container in list(self.containers.items()):
            pod = mine.get(name)
            if pod is None or pod["metadata"].get("uid") != container.uid:
                self._kill(name)
        for name, pod in mine.items():
            spec, status = pod.get("spec") or {}, pod.get("status") or {}
            if status.get("phase", "Pending") != "Pending" or name in self.containers:
                continue
            if not spec.get("nodeName"):
                node, message = schedule(pod, nodes, pods)
                if node is None:
                    if _unschedulable(pod) != message:
                        condition = {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": message,
                        }
                        self._patch_pod(name, {"status": {"conditions": [condition]}})
                    continue
                self._patch_pod(name, {"spec": {"nodeName": node}})
                pod["spec"]["nodeName"] = node  # counted for the next pod of this pass
            self._run(pod)
        for name, container in list(self.containers.items()):
            code = container.proc.poll()
            if code is not None and container.stopping_since is None and not container.reported_exit:
                container.reported_exit = True
                self._patch_pod(name, _exited_status(container.name, code))

    def _run(self, pod: dict) -> None:
        name = pod["metadata"]["name"]
        spec = pod["spec"]
        c = spec["containers"][0]
        port = next((p["containerPort"] for p in c.get("ports") or [] if p.get("name") == "notebook-port"), 0)
        env = self._env(pod, c)
        argv = [*(c.get("command") or []), *(c.get("args") or [])] or ["jupyterhub-singleuser"]
        if Path(argv[0]).name == "jupyterhub-singleuser":
            argv[0] = str(BIN / "jupyterhub-singleuser")
        else:
            argv[0] = shutil.which(argv[0], path=env["PATH"]) or argv[0]
        home = self.workdir / name
        home.mkdir(exist_ok=True)
        env["HOME"] = str(home)
        log = self.workdir / f"{name}.log"
        with open(log, "ab") as out:
            try:
                proc = subprocess.Popen(  # an argv list: never a shell
                    argv, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            except OSError as e:
                out.write(f"cannot start {argv[0]}: {e}\n".encode())
                self._patch_pod(name, _exited_status(c["name"], 127, f"StartError: {e}"))
                return
        grace = float(spec.get("terminationGracePeriodSeconds", 30))
        self.containers[name] = Container(
            pod["metadata"]["uid"], c["name"], proc, log, port, grace, argv=argv
        )
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ready = [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ]
        self._patch_pod(
            name,
            {
                "status": {
                    "phase": "Running",
                    "podIP": self.pod_ip,
                    "podIPs": [{"ip": self.pod_ip}],
                    "hostIP": "127.0.0.1",
                    "startTime": now,
                    "conditions": ready,
                    "containerStatuses": [
                        {
                            "name": c["name"],
                            "image": c.get("image", ""),
                            "imageID": "",
                            "ready": True,
                            "started": True,
                            "restartCount": 0,
                            "state": {"running": {"startedAt": now}},
                        }
                    ],
                }
            },
        )

    def _env(self, pod: dict, container: dict) -> dict[str, str]:
        env = {"PATH": f"{BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        for source in container.get("envFrom") or []:
            ref = (source.get("secretRef") or {}).get("name")
            if ref:
                secret = self._call("GET", f"/api/v1/namespaces/{self.namespace}/secrets/{ref}")
                env.update({k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()})
        fields = {"status.podIP": self.pod_ip, "metadata.name": pod["metadata"]["name"]}
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
            elif ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") in fields:
                env[item["name"]] = fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
        if "JUPYTERHUB_SERVICE_URL" in env:
            env["JUPYTERHUB_SERVICE_URL"] = _host(env["JUPYTERHUB_SERVICE_URL"], self.pod_ip, {"0.0.0.0", ""})
        for key in ("JUPYTERHUB_API_URL", "JUPYTERHUB_ACTIVITY_URL"):
            if key in env and urlsplit(env[key]).hostname not in LOOPBACK:
                env[key] = _host(env[key], "127.0.0.1")
        return env

    # --- stopping ----------------------------------------------------------------------------

    def _kill(self, name: str, now: bool = False) -> None:
        container = self.containers.get(name)
        if container is None:
            return
        if container.proc.poll() is None:
            if container.stopping_since is None:
                container.stopping_since = time.monotonic()
                _signal(container.proc, signal.SIGTERM)
            if now:
                try:
                    container.proc.wait(min(container.grace, 5))
                except subprocess.TimeoutExpired:
                    _signal(container.proc, signal.SIGKILL)
                    container.proc.wait(5)
        if container.proc.poll() is not None:
            self.containers.pop(name, None)
        elif container.stopping_since is None:
            container.stopping_since = time.monotonic()

    def _reap(self) -> None:
        """SIGKILL what outlived its grace period; forget what has exited after deletion."""
        for name, container in list(self.containers.items()):
            if container.stopping_since is None:
                continue
            if container.proc.poll() is not None:
                self.containers.pop(name, None)
            elif time.monotonic() - container.stopping_since > container.grace:
                _signal(container.proc, signal.SIGKILL)


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the whole container: kernels included
    except ProcessLookupError:
        pass


def _host(url: str, host: str, only: set[str] | None = None) -> str:
    parts = urlsplit(url)
    if only is not None and (parts.hostname or "") not in only:
        return url
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _unschedulable(pod: dict) -> str | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable":
            return c.get("message")
    return None


def _exited_status(name: str, code: int, reason: str | None = None) -> dict:
    terminated = {"exitCode": code, "reason": reason or ("Completed" if code == 0 else "Error")}
    return {
        "status": {
            "phase": "Succeeded" if code == 0 else "Failed",
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}],
            "containerStatuses": [
                {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": terminated}}
            ],
        }
    }
