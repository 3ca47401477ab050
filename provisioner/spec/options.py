"""Provider-specific knobs, as a union discriminated by `provider` (never free-form dicts)."""

from typing import Annotated, Literal

from pydantic import Field

from provisioner.spec._base import SpecModel


class AwsOptions(SpecModel):
    """Knobs only AWS has."""

    provider: Annotated[Literal["aws"], Field(description="Discriminator.")] = "aws"
    kms_key_id: Annotated[
        str | None, Field(description="KMS key for disks, FSx and S3; None = the AWS-managed keys.")
    ] = None
    key_name: Annotated[
        str | None, Field(description="EC2 key pair for SSH (only useful with network.ssh_cidrs).")
    ] = None
    ami_ssm_parameter: Annotated[
        str | None,
        Field(
            description="SSM public parameter that names the GPU image; None = the Deep Learning Base AMI."
        ),
    ] = None
    extra_policy_arns: Annotated[
        list[str],
        Field(description="Extra IAM managed policies for the node role (least privilege by default)."),
    ] = Field(default_factory=list)


class GcpOptions(SpecModel):
    """Knobs only Google Cloud has."""

    provider: Annotated[Literal["gcp"], Field(description="Discriminator.")] = "gcp"
    project: Annotated[
        str | None,
        Field(
            pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
            description="Project to create the cluster in; None = the stack's `gcp:project`.",
        ),
    ] = None
    kms_key: Annotated[
        str | None,
        Field(
            pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$",
            description="Cloud KMS key (CMEK) for boot disks and buckets; None = Google-managed keys.",
        ),
    ] = None
    filestore_tier: Annotated[
        Literal["BASIC_HDD", "BASIC_SSD", "ZONAL", "REGIONAL"],
        Field(description="Filestore service tier of the NFS shares."),
    ] = "ZONAL"
    extra_roles: Annotated[
        list[str],
        Field(description="Extra project roles for the nodes' service account (least privilege by default)."),
    ] = Field(default_factory=list)
    iap_ssh: Annotated[
        bool,
        Field(
            description="Allow SSH from Identity-Aware Proxy's range (35.235.240.0/20) for "
            "`gcloud compute ssh --tunnel-through-iap`; off by default."
        ),
    ] = False


RegionList = Annotated[
    list[Annotated[str, Field(pattern=r"^[a-z0-9-]+$", max_length=40)]],
    Field(max_length=16),
]


class LambdaOptions(SpecModel):
    """Knobs only Lambda has (Lambda Cloud's on-demand instances, through its REST API)."""

    provider: Annotated[Literal["lambda"], Field(description="Discriminator.")] = "lambda"
    ssh_key_name: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=64,
            description="Name of an SSH key already in the Lambda account (Lambda requires exactly one per "
            "launch; add it with `POST /ssh-keys` or the console).",
        ),
    ] = None
    fallback_regions: Annotated[
        RegionList,
        Field(
            description="Regions to try, in order, after the cluster's region when Lambda has no capacity "
            "there (a pool stays in one region). Ignored when the cluster has a filesystem, which is "
            "regional."
        ),
    ] = Field(default_factory=list)


class CrusoeOptions(SpecModel):
    """Knobs only Crusoe has (Crusoe Cloud VMs, through its REST API)."""

    provider: Annotated[Literal["crusoe"], Field(description="Discriminator.")] = "crusoe"
    project_id: Annotated[
        str | None,
        Field(
            pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            description="Crusoe project (a UUID) to create the VMs in.",
        ),
    ] = None
    ssh_public_key: Annotated[
        str | None,
        Field(
            pattern=r"^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( [^\n]*)?$",
            max_length=16384,
            description="OpenSSH public key put on every VM (Crusoe requires one per VM).",
        ),
    ] = None
    image: Annotated[
        str | None,
        Field(
            max_length=200,
            description="Crusoe image; None = the curated NVIDIA image of the shape "
            "(ubuntu22.04-nvidia-sxm-docker for SXM/InfiniBand, ubuntu22.04-nvidia-pcie-docker otherwise).",
        ),
    ] = None
    fallback_locations: Annotated[
        RegionList,
        Field(
            description="Locations to try, in order, after the cluster's region when Crusoe is out of stock "
            "there (a pool stays in one location). Ignored when the cluster has a shared disk, which is "
            "per location."
        ),
    ] = Field(default_factory=list)


ProviderOptions = Annotated[
    AwsOptions | GcpOptions | LambdaOptions | CrusoeOptions, Field(discriminator="provider")
]
