"""HybridSpawner: tier + environment chosen by the user, site chosen by placement."""

from .hybrid import HybridSpawner

__all__ = ["HybridSpawner"]
