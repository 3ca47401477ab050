"""GPU models and provider offers, as data. No network, no Pulumi."""

from provisioner.catalog.catalog import Catalog
from provisioner.catalog.loader import load_catalog, parse_offers_csv, shipped_catalog
from provisioner.catalog.models import (
    CpuShape,
    GpuModel,
    HelmChart,
    ImageDefault,
    KubernetesVersion,
    ManagedKubernetes,
    Offer,
    Price,
    parse_version,
)

__all__ = [
    "Catalog",
    "CpuShape",
    "GpuModel",
    "HelmChart",
    "ImageDefault",
    "KubernetesVersion",
    "ManagedKubernetes",
    "Offer",
    "Price",
    "load_catalog",
    "parse_offers_csv",
    "parse_version",
    "shipped_catalog",
]
