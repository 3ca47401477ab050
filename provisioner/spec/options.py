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


ProviderOptions = Annotated[AwsOptions | GcpOptions, Field(discriminator="provider")]
