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


ProviderOptions = AwsOptions
