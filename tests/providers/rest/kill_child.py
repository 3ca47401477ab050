"""The process that test_killed_create.py kills: one `PoolProvider.create`, as a `pulumi up` runs it, against
a fake cloud API served by the parent on loopback.

    python kill_child.py <factory 'module:function'> <props as JSON>

It prints `creating` once it starts and `created <outs as JSON>` if it is ever let finish (the parent kills it
with SIGKILL before that: a line `created` means the kill came too late)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # fast_factories and the fakes it imports

from provisioner.providers.rest.dynamic import PoolProvider


def main(argv: list[str]) -> int:
    factory, props = argv[1], json.loads(argv[2])
    print("creating", flush=True)
    created = PoolProvider(factory).create(props)
    print("created", json.dumps(created.outs), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
