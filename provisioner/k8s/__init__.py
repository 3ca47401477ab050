"""Kubernetes, provider-neutral: what provisioner renders into a cluster (Helm values, manifests, node
configuration) and `provisioner verify`, which checks a running cluster against the plan."""
