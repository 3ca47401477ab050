"""Google Cloud service minimums, as plain data with no imports so validation rules can read them.

Filestore minimum capacities (recalled): BASIC_HDD 1 TiB, BASIC_SSD 2.5 TiB, ZONAL and REGIONAL 1 TiB.
Managed Lustre (cloud.google.com/managed-lustre/docs/quotas, as mirrored; read 2026-12-02): minimum capacity
per throughput tier 72,000 GiB at 125 MB/s/TiB, 36,000 at 250, 18,000 at 500, 9,000 at 1,000 (an older copy
of the page doubles each).
"""

FILESTORE_MIN_GIB = {"BASIC_HDD": 1024, "BASIC_SSD": 2560, "ZONAL": 1024, "REGIONAL": 1024}
LUSTRE_MIN_GIB = {125: 72000, 250: 36000, 500: 18000, 1000: 9000}
