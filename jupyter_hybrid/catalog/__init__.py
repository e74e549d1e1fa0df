"""Catalog: what an admin declares (sites, tiers, environments) and its validation."""

from .load import CatalogError, CatalogFile, load_catalog, parse_catalog
from .model import Catalog, Environment, Site, Tier, format_bytes, parse_bytes

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogFile",
    "Environment",
    "Site",
    "Tier",
    "format_bytes",
    "load_catalog",
    "parse_bytes",
    "parse_catalog",
]
