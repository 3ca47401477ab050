"""The nodes' identity: an IAM role with Session Manager access and least privilege on the cluster's own."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from provisioner.providers.aws.common import IDENTITY_TYPE, child_opts, component_opts
from provisioner.providers.aws.plan import AwsPlan, KeyGrantSpec, autoscaling_role_arn, child, node_policy


def ebs_key_grant(
    spec: AwsPlan, grant: KeyGrantSpec, provider: aws.Provider, parent: pulumi.Resource
) -> aws.kms.Grant:
    """Let the Auto Scaling service-linked role use the customer key that encrypts the root volumes.

    Auto Scaling launches the nodes with that role; without a grant (or a key policy statement) on the key,
    every launch fails with Client.InternalError. The role exists once the account has had an auto scaling
    group (or after `aws iam create-service-linked-role --aws-service-name autoscaling.amazonaws.com`)."""
    invoke = pulumi.InvokeOutputOptions(provider=provider, parent=parent)
    account = aws.get_caller_identity_output(opts=invoke).account_id
    partition = spec.partition
    key_id: pulumi.Input[str] = grant.key_id
    if grant.resolve_alias:  # CreateGrant takes a key id or key ARN, never an alias
        key_id = aws.kms.get_key_output(key_id=grant.key_id, opts=invoke).arn
    return aws.kms.Grant(
        grant.resource_name,
        key_id=key_id,
        grantee_principal=account.apply(lambda account_id: autoscaling_role_arn(partition, account_id)),
        operations=list(grant.operations),
        opts=child_opts(parent, provider),
    )


class Identity(pulumi.ComponentResource):
    role: aws.iam.Role
    instance_profile: aws.iam.InstanceProfile
    key_grant: aws.kms.Grant | None
    """The Auto Scaling role's grant on options.kms_key_id; the node groups launch only once it exists."""

    def __init__(
        self,
        spec: AwsPlan,
        bucket_arns: Sequence[pulumi.Output[str]],
        provider: aws.Provider,
        parent: pulumi.Resource,
    ) -> None:
        super().__init__(IDENTITY_TYPE, spec.identity.resource_name, None, component_opts(parent, provider))
        name, opts = spec.name, child_opts(self, provider)
        self.role = aws.iam.Role(
            child(name, "node-role"),
            assume_role_policy=json.dumps(spec.identity.assume_role_policy),
            description=f"GPU nodes of cluster {spec.cluster} (Session Manager, the cluster's own buckets)",
            tags=spec.tags,
            opts=opts,
        )
        grants: list[pulumi.Resource] = [
            aws.iam.RolePolicyAttachment(
                child(name, "policy", key), role=self.role.name, policy_arn=arn, opts=opts
            )
            for key, arn in spec.identity.managed_policy_arns.items()
        ]
        if bucket_arns:
            policy = pulumi.Output.all(*bucket_arns).apply(
                lambda arns: json.dumps(node_policy(arns, spec.kms_key_id, spec.region))
            )
            grants.append(
                aws.iam.RolePolicy(child(name, "node-policy"), role=self.role.id, policy=policy, opts=opts)
            )
        # Nodes boot with the profile: make it usable only once the role holds its permissions.
        self.instance_profile = aws.iam.InstanceProfile(
            child(name, "node-profile"),
            role=self.role.name,
            tags=spec.tags,
            opts=child_opts(self, provider, depends_on=grants),
        )
        grant = spec.identity.ebs_key_grant
        self.key_grant = None if grant is None else ebs_key_grant(spec, grant, provider, self)
        self.register_outputs({"role_arn": self.role.arn, "instance_profile_arn": self.instance_profile.arn})
