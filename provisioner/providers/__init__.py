"""Provider adapters. Each package has a pure `plan.py` and a Pulumi-only `resources.py`."""
