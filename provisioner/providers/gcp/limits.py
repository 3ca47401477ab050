"""Google Cloud service minimums, as plain data with no imports so validation rules can read them.

Filestore minimum capacities (recalled): BASIC_HDD 1 TiB, BASIC_SSD 2.5 TiB, ZONAL and REGIONAL 1 TiB.
Managed Lustre (cloud.google.com/managed-lustre/docs/quotas, as mirrored; read 2026-12-02): minimum capacity
per throughput tier 72,000 GiB at 125 MB/s/TiB, 36,000 at 250, 18,000 at 500, 9,000 at 1,000 (an older copy
of the page doubles each).
"""

FILESTORE_MIN_GIB = {"BASIC_HDD": 1024, "BASIC_SSD": 2560, "ZONAL": 1024, "REGIONAL": 1024}
LUSTRE_MIN_GIB = {125: 72000, 250: 36000, 500: 18000, 1000: 9000}

COMPACT_PLACEMENT_MAX_VMS = 150
"""Most VMs one compact placement policy takes (recalled from Compute Engine's placement policy overview, not
re-read in the session that added it, 2026-12-03)."""
WORKLOAD_POLICY_SHAPES = ("a3-highgpu-8g", "a3-megagpu-8g", "a3-ultragpu-8g", "a4-highgpu-8g")
"""Shapes whose managed instance groups are placed by a workload policy, not a compact placement policy
(docs.cloud.google.com/ai-hypercomputer/docs/placement-policy-and-workload-policy, read 2026-12-02)."""
