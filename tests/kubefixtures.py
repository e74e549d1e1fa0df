"""Realistic node and pod JSON, shaped as a real API server returns them (kubectl get -o json)."""

from __future__ import annotations


def node(name, cpu="16", memory="64Gi", gpus=0, product=None, labels=None, ready=True, mig=None, **extra):
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "94Gi"}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    for profile, count in (mig or {}).items():
        allocatable[f"nvidia.com/mig-{profile}"] = str(count)
    node_labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", **(labels or {})}
    if product:
        node_labels["nvidia.com/gpu.product"] = product
        node_labels["nvidia.com/gpu.count"] = str(gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels, "uid": f"uid-{name}", "resourceVersion": "1"},
        "spec": {"podCIDR": "10.244.1.0/24", **extra},
        "status": {
            "capacity": dict(allocatable),
            "allocatable": allocatable,
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {"type": "Ready", "status": "True" if ready else "False", "reason": "KubeletReady"},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": f"boot-{name}",
                "containerRuntimeVersion": "containerd://1.7.13",
                "kernelVersion": "6.1.0-18-amd64",
                "kubeProxyVersion": "v1.30.2",
                "kubeletVersion": "v1.30.2",
                "machineID": f"machine-{name}",
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": f"uuid-{name}",
            },
        },
    }


def pod(name, node=None, cpu="1", memory="1Gi", gpus=0, phase="Running", namespace="default", **kw):
    resources = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}
    if gpus:
        resources["limits"][kw.pop("gpu_resource", "nvidia.com/gpu")] = str(gpus)  # request defaults to it
    spec = {"containers": [{"name": "main", "image": "busybox", "resources": resources}]}
    if node:
        spec["nodeName"] = node
    spec.update(kw.pop("spec", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", **kw.pop("metadata", {})},
        "spec": spec,
        "status": {"phase": phase, **kw.pop("status", {})},
    }
