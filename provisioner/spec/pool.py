"""A pool: a group of identical GPU nodes."""

from typing import Annotated, Self

from pydantic import Field, model_validator

from provisioner.spec._base import SpecModel
from provisioner.spec.enums import CapacityKind, Interconnect
from provisioner.spec.software import Software

MAX_COUNT = 1_000_000
"""Upper bound of `gpus` and `nodes`: far above any real pool, and keeps prices finite floats."""


class NodePool(SpecModel):
    """Identical GPU nodes, deployed as one group resource (never one resource per node).

    Give either `gpus` (the total; the shape is chosen for you) or `nodes` (with the shape's GPUs per node).
    """

    name: Annotated[str, Field(description="Pool name, DNS-safe, unique in the cluster.")]
    gpu: Annotated[str, Field(description="GPU model, e.g. 'H100', 'L40S', 'A100-80GB', 'MI300X'.")]
    gpus: Annotated[int | None, Field(ge=1, le=MAX_COUNT, description="Total GPUs in the pool.")] = None
    nodes: Annotated[int | None, Field(ge=1, le=MAX_COUNT, description="Number of nodes in the pool.")] = None
    instance_type: Annotated[
        str | None, Field(description="Shape override, e.g. 'p5.4xlarge'. None = chosen from the catalog.")
    ] = None
    interconnect: Annotated[
        Interconnect, Field(description="Inter-node fabric; 'auto' = the best fabric the shape has.")
    ] = Interconnect.AUTO
    capacity: Annotated[CapacityKind, Field(description="How the capacity is bought.")] = (
        CapacityKind.ON_DEMAND
    )
    reservation_id: Annotated[
        str | None,
        Field(
            description="Capacity reservation or capacity block id, "
            "for capacity='reservation'/'capacity-block'."
        ),
    ] = None
    placement_group: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=255,
            description="An existing placement group to launch into (e.g. the one a capacity reservation "
            "was made in). None = a new cluster placement group for multi-node fabric pools, and none for "
            "pools on a reservation or capacity block (their capacity is placed by AWS).",
        ),
    ] = None
    zone: Annotated[
        str | None, Field(description="Zone to place the pool in (one zone, so that the fabric spans it).")
    ] = None
    root_volume_gib: Annotated[int, Field(ge=20, le=16384, description="Root disk size in GiB.")] = 200
    software: Annotated[
        Software | None, Field(description="Per-pool software override; None = the cluster's software.")
    ] = None
    labels: Annotated[dict[str, str], Field(description="Extra labels/tags for this pool's nodes.")] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _gpus_or_nodes(self) -> Self:
        if self.gpus is not None and self.nodes is not None:
            raise ValueError(
                f"pool {self.name!r}: give gpus={self.gpus} or nodes={self.nodes}, not both "
                "(gpus picks the shape for you; nodes counts machines of the chosen shape)"
            )
        return self
