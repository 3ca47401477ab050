"""A node's boot as one shell script, for clouds that take a startup script instead of cloud-init user data
(Crusoe's `startup_script`): the node's files packed as a gzipped tar, unpacked by the script, which then
starts the same bootstrap unit. Deterministic: the same files give the same bytes."""

from __future__ import annotations

import base64
import gzip
import io
import tarfile
import textwrap
from collections.abc import Sequence

from provisioner.bootstrap.templates import environment
from provisioner.bootstrap.userdata import NodeFile, UserDataTooLargeError
from provisioner.errors import ProvisionerError


class CloudConfigInScriptError(ProvisionerError):
    pass


def archive(files: Sequence[NodeFile]) -> bytes:
    """A gzipped tar of the files (root-owned, their modes, mtime 0), in the order given."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as packed,
        tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for f in files:
            data = f.content.encode()
            info = tarfile.TarInfo(f.path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), int(f.mode, 8), 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def startup_script(
    files: Sequence[NodeFile],
    cluster: str,
    pool: str,
    extra: str | None = None,
    limit: int | None = None,
) -> str:
    """The startup script of a pool's nodes; `extra` (the user's own part) must be a script here, since
    there is no cloud-init to merge a cloud-config into."""
    if extra is not None and extra.lstrip().startswith("#cloud-config"):
        raise CloudConfigInScriptError(
            f"pool {pool!r}: software.extra_user_data is a cloud-config, but this cloud boots from a startup "
            "script: give a shell script (starting with #!) instead"
        )
    packed = list(files)
    if extra is not None:
        packed.append(NodeFile("/opt/provisioner/user-data.sh", "0755", extra))
    encoded = "\n".join(textwrap.wrap(base64.b64encode(archive(packed)).decode(), 76))
    script = (
        environment()
        .get_template("node/startup-script.sh.j2")
        .render(cluster=cluster, pool=pool, archive=encoded, user_script=extra is not None)
    )
    if limit is not None and len(script.encode()) > limit:
        raise UserDataTooLargeError(
            f"pool {pool!r} of cluster {cluster!r}: the startup script is {len(script.encode())} bytes; the "
            f"provider accepts at most {limit}: drop optional software (apptainer, enroot, cuda) or bake it "
            "into a custom image"
        )
    return script
