"""The top-level declaration."""

from typing import Annotated

from pydantic import Field

from provisioner.spec._base import SpecModel
from provisioner.spec.enums import ProviderName
from provisioner.spec.network import Network
from provisioner.spec.options import ProviderOptions
from provisioner.spec.pool import NodePool
from provisioner.spec.scheduler import Scheduler
from provisioner.spec.software import Software
from provisioner.spec.storage import Storage


class Cluster(SpecModel):
    """A GPU cluster on one provider and region."""

    name: Annotated[str, Field(description="Cluster name: DNS-safe, at most 32 characters.")]
    provider: Annotated[ProviderName, Field(description="Cloud provider.")]
    region: Annotated[str, Field(min_length=1, description="Region, e.g. 'us-east-1'.")]
    pools: Annotated[list[NodePool], Field(min_length=1, description="GPU node pools.")]
    storage: Annotated[list[Storage], Field(description="Shared filesystems, buckets, local scratch.")] = (
        Field(default_factory=list)
    )
    software: Annotated[Software, Field(description="Software of every node (pools may override).")] = Field(
        default_factory=Software
    )
    network: Annotated[Network, Field(description="Network placement and access.")] = Field(
        default_factory=Network
    )
    scheduler: Annotated[
        Scheduler | None,
        Field(description="Workload scheduler: Slurm(...) or Kubernetes(...); None = bare GPU nodes."),
    ] = None
    tags: Annotated[dict[str, str], Field(description="Tags/labels put on every resource.")] = Field(
        default_factory=dict
    )
    suppress: Annotated[
        list[str], Field(description="Finding codes to silence (warnings only; errors cannot be suppressed).")
    ] = Field(default_factory=list)
    options: Annotated[
        ProviderOptions | None, Field(description="Provider-specific options; `provider` must match.")
    ] = None

    def software_for(self, pool: NodePool) -> Software:
        return pool.software if pool.software is not None else self.software
