"""Kubernetes sites: servers through KubeSpawner, live capacity from nodes and pods."""

from .site import KubernetesSite

__all__ = ["KubernetesSite"]
