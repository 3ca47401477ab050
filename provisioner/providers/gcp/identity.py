"""The nodes' service account: a dedicated one with only the roles the plan names (never the default compute
account with full scopes). Buckets and secrets grant it access one resource at a time, elsewhere."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from provisioner.providers.gcp.common import IDENTITY_TYPE, child_opts, component_opts, project_id
from provisioner.providers.gcp.plan import child, resource_name
from provisioner.providers.gcp.specs import GcpPlan


class Identity(pulumi.ComponentResource):
    account: gcp.serviceaccount.Account
    email: pulumi.Output[str]
    roles: list[gcp.projects.IAMMember]

    def __init__(self, spec: GcpPlan, provider: gcp.Provider, parent: pulumi.Resource) -> None:
        super().__init__(IDENTITY_TYPE, child(spec.name, "identity"), None, component_opts(parent, provider))
        ident = spec.identity
        self.account = gcp.serviceaccount.Account(
            child(spec.name, "nodes"),
            project=spec.project,
            account_id=ident.account_id,
            display_name=ident.display_name,
            description=f"provisioner: the nodes of cluster {spec.name}",
            opts=child_opts(self, provider),
        )
        self.email = self.account.email
        project = project_id(provider, self, spec.project)
        member = self.account.email.apply(lambda email: f"serviceAccount:{email}")
        self.roles = [
            gcp.projects.IAMMember(
                child(spec.name, "nodes", resource_name(role.removeprefix("roles/"))),
                project=project,
                role=role,
                member=member,
                opts=child_opts(self, provider),
            )
            for role in ident.project_roles
        ]
        self.register_outputs({"email": self.email})
