"""Catalog: what an admin declares (sites, tiers, environments, datasets, quotas) and its validation."""

from .load import CatalogError, CatalogFile, load_catalog, parse_catalog
from .model import (
    Catalog,
    Dataset,
    DatasetLocation,
    Environment,
    GPUModel,
    Limits,
    Policy,
    Quotas,
    Site,
    Tier,
    TierOption,
    format_bytes,
    parse_bytes,
)

__all__ = [
    "Catalog",
    "CatalogError",
    "CatalogFile",
    "Dataset",
    "DatasetLocation",
    "Environment",
    "GPUModel",
    "Limits",
    "Policy",
    "Quotas",
    "Site",
    "Tier",
    "TierOption",
    "format_bytes",
    "load_catalog",
    "parse_bytes",
    "parse_catalog",
]
