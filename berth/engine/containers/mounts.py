"""A container's mounts: Binds (-v), Mounts (--mount), Tmpfs (--tmpfs), VolumesFrom and
the image's VOLUMEs turned into mount points (what inspect shows as "Mounts"), and at
start into OCI mounts. The rules and messages are dockerd's (volume/mounts and
daemon/volumes.go); `parse` does no I/O besides checking bind sources, so a bad request
changes nothing."""

from __future__ import annotations

import dataclasses
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from berth.engine.containers.tmpfsopts import (
    DEFAULT_PROPAGATION,
    tmpfs_data,
    tmpfs_options,
    validate_tmpfs,
)
from berth.engine.containers.tmpfsopts import PROPAGATION as _PROPAGATION
from berth.engine.errors import InvalidParameter

_RW_MODES = ("rw", "ro")
_LABEL_MODES = ("z", "Z")
_COPY_MODES = ("nocopy",)
_CONSISTENCY = ("consistent", "cached", "delegated")


@dataclass
class MountPoint:
    type: str  # bind | volume | tmpfs
    destination: str
    source: str = ""
    name: str = ""
    driver: str = ""
    mode: str = ""
    rw: bool = True
    propagation: str = ""
    # copy the image's content at the destination into the volume when it is empty
    copy_data: bool = False
    # --mount type=bind: the source must exist (-v creates it)
    must_exist: bool = False
    nonrecursive: bool = False
    tmpfs_data: str = ""  # mount data for type tmpfs ("size=64m,mode=1777")

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Type": self.type}
        if self.name:
            out["Name"] = self.name
        out["Source"] = self.source
        out["Destination"] = self.destination
        if self.driver:
            out["Driver"] = self.driver
        out.update(Mode=self.mode, RW=self.rw, Propagation=self.propagation)
        return out


@dataclass
class Planned:
    """A mount point still to be realised: volumes are created (or found) at create."""

    mp: MountPoint
    driver_opts: dict[str, str] | None = None
    labels: dict[str, str] | None = None
    # VolumesFrom copies point at existing volumes and must not create any
    existing: bool = False


def load(stored: list[dict[str, Any]] | None) -> list[MountPoint]:
    return [MountPoint(**d) for d in stored or []]


def dump(mps: list[MountPoint]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(m) for m in mps]


def api_list(stored: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [m.to_api() for m in sorted(load(stored), key=lambda m: m.destination)]


# ---- parsing ---------------------------------------------------------------


def _invalid_spec(raw: str) -> str:
    return f"invalid volume specification: '{raw}'"


def _mount_config_error(mtype: str, msg: str) -> InvalidParameter:
    return InvalidParameter(f'invalid mount config for type "{mtype}": {msg}')


def valid_mode(mode: str) -> bool:
    if mode == "":
        return True
    counts = {"rw": 0, "label": 0, "prop": 0, "copy": 0, "consistency": 0}
    for o in mode.split(","):
        if o in _RW_MODES:
            counts["rw"] += 1
        elif o in _LABEL_MODES:
            counts["label"] += 1
        elif o in _PROPAGATION:
            counts["prop"] += 1
        elif o in _COPY_MODES:
            counts["copy"] += 1
        elif o in _CONSISTENCY:
            counts["consistency"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def _check_target(mtype: str, target: str) -> None:
    if not target:
        raise _mount_config_error(mtype, "field Target must not be empty")
    if posixpath.normpath(target) == "/":
        raise _mount_config_error(mtype, "invalid specification: destination can't be '/'")
    if not target.startswith("/"):
        raise _mount_config_error(
            mtype, f"invalid mount path: '{target}' mount path must be absolute"
        )


def parse_bind(raw: str, volume_driver: str = "") -> Planned:
    """One HostConfig.Binds entry: [SOURCE:]TARGET[:MODE]."""
    if raw.count(":") > 2 or raw.startswith(":") or not raw:
        raise InvalidParameter(_invalid_spec(raw))
    arr = raw.split(":", 2)
    mode = ""
    if len(arr) == 1:
        source, target = "", arr[0]
    elif len(arr) == 2:
        if valid_mode(arr[1]):
            # a mode after a lone destination: volumes cannot take one
            raise InvalidParameter(_invalid_spec(raw))
        source, target = arr
    else:
        source, target, mode = arr
    if not valid_mode(mode):
        raise InvalidParameter(f"invalid mode: {mode}")
    modes = mode.split(",") if mode else []
    mtype = "bind" if source.startswith("/") else "volume"
    readonly = "ro" in modes
    try:
        _check_target(mtype, target)
        if mtype == "volume" and readonly and not source:
            raise _mount_config_error(
                mtype, "must not set ReadOnly mode when using anonymous volumes"
            )
    except InvalidParameter as exc:
        raise InvalidParameter(f"{_invalid_spec(raw)}: {exc.message}") from None
    mp = MountPoint(type=mtype, destination=posixpath.normpath(target), rw=not readonly, mode=mode)
    if mtype == "bind":
        mp.source = posixpath.normpath(source)
        prop = [m for m in modes if m in _PROPAGATION]
        mp.propagation = prop[0] if prop else DEFAULT_PROPAGATION
        return Planned(mp)
    mp.name = source
    mp.driver = volume_driver
    mp.copy_data = "nocopy" not in modes
    if source and not mp.mode:
        mp.mode = "z"  # dockerd's setBindModeIfNull for the local driver
    return Planned(mp)


def _bool_field(value: Any) -> bool:
    return bool(value)


def parse_mount(spec: Any) -> Planned:
    """One HostConfig.Mounts entry (the API's Mount object)."""
    if not isinstance(spec, dict):
        raise InvalidParameter("invalid mount config: expected an object")
    mtype = spec.get("Type") or ""
    target = spec.get("Target") or ""
    if mtype not in ("bind", "volume", "tmpfs"):
        raise _mount_config_error(mtype, "mount type unknown")
    _check_target(mtype, target)
    dest = posixpath.normpath(target)
    readonly = _bool_field(spec.get("ReadOnly"))
    if mtype == "bind":
        return _parse_bind(spec, dest, readonly)
    if mtype == "volume":
        return _parse_volume(spec, dest, readonly)
    return _parse_tmpfs(spec, dest, readonly)


def _not_specified(spec: dict[str, Any], mtype: str, *fields: str) -> None:
    for name in fields:
        if spec.get(name) is not None:
            raise _mount_config_error(mtype, f"field {name} must not be specified")


def _parse_bind(spec: dict[str, Any], dest: str, readonly: bool) -> Planned:
    source = spec.get("Source") or ""
    bind_opts = spec.get("BindOptions") or {}
    if not source:
        raise _mount_config_error("bind", "field Source must not be empty")
    prop = bind_opts.get("Propagation") or ""
    if prop and prop not in _PROPAGATION:
        raise _mount_config_error("bind", f"invalid propagation mode: {prop}")
    _not_specified(spec, "bind", "VolumeOptions", "TmpfsOptions")
    if not source.startswith("/"):
        raise _mount_config_error(
            "bind", f"invalid mount path: '{source}' mount path must be absolute"
        )
    if not os.path.exists(source):
        raise _mount_config_error("bind", f"bind source path does not exist: {source}")
    mp = MountPoint(
        type="bind",
        destination=dest,
        source=posixpath.normpath(source),
        rw=not readonly,
        propagation=prop or DEFAULT_PROPAGATION,
        must_exist=not bind_opts.get("CreateMountpoint"),
        nonrecursive=bool(bind_opts.get("NonRecursive")),
    )
    return Planned(mp)


def _parse_volume(spec: dict[str, Any], dest: str, readonly: bool) -> Planned:
    source = spec.get("Source") or ""
    vol_opts = spec.get("VolumeOptions")
    _not_specified(spec, "volume", "BindOptions", "TmpfsOptions")
    if readonly and not source:
        raise _mount_config_error(
            "volume", "must not set ReadOnly mode when using anonymous volumes"
        )
    vo = vol_opts or {}
    if vo.get("Subpath"):
        raise _mount_config_error("volume", "volume subpaths are not supported")
    dc = vo.get("DriverConfig") or {}
    mp = MountPoint(
        type="volume",
        destination=dest,
        name=source,
        driver=dc.get("Name") or "",
        rw=not readonly,
        copy_data=not vo.get("NoCopy"),
        mode="z" if source else "",
    )
    opts = dc.get("Options") if vol_opts is not None else None
    labels = vo.get("Labels") if vol_opts is not None else None
    return Planned(mp, driver_opts=opts or None, labels=labels or None)


def _parse_tmpfs(spec: dict[str, Any], dest: str, readonly: bool) -> Planned:
    _not_specified(spec, "tmpfs", "BindOptions", "VolumeOptions")
    if spec.get("Source"):
        raise _mount_config_error("tmpfs", "field Source must not be specified")
    mp = MountPoint(
        type="tmpfs",
        destination=dest,
        rw=not readonly,
        tmpfs_data=tmpfs_data(spec.get("TmpfsOptions"), readonly),
    )
    return Planned(mp)


def parse_volumes_from(spec: str) -> tuple[str, str]:
    if not spec:
        raise InvalidParameter("volumes-from specification cannot be an empty string")
    ref, _, mode = spec.partition(":")
    if mode and mode not in _RW_MODES:
        raise InvalidParameter(f"invalid mode: {mode}")
    return ref, mode


def parse_all(
    binds: list[str] | None,
    mounts: list[Any] | None,
    tmpfs: dict[str, str] | None,
    volumes_from: list[str] | None,
    config_volumes: dict[str, Any] | None,
    *,
    volume_driver: str = "",
    get_container: Callable[[str], Any],
) -> list[Planned]:
    """Every mount point of a new container, in dockerd's order of precedence:
    VolumesFrom, then Binds, then Mounts, then the remaining VOLUMEs (anonymous)."""
    validate_tmpfs(tmpfs)
    tmpfs_dests = {posixpath.normpath(d) for d in tmpfs or {}}
    points: dict[str, Planned] = {}
    for spec in volumes_from or []:
        ref, mode = parse_volumes_from(spec)
        other = get_container(ref)  # NotFound: "No such container: ref"
        for m in load(getattr(other, "mount_points", None)):
            cp = dataclasses.replace(m, rw=m.rw and mode != "ro", copy_data=False)
            points[cp.destination] = Planned(cp, existing=m.type == "volume")
    user: set[str] = set()
    for raw in binds or []:
        p = parse_bind(raw, volume_driver)
        if p.mp.destination in user or p.mp.destination in tmpfs_dests:
            raise InvalidParameter(f"Duplicate mount point: {p.mp.destination}")
        user.add(p.mp.destination)
        points[p.mp.destination] = p
    for spec in mounts or []:
        p = parse_mount(spec)
        if p.mp.destination in user:
            raise InvalidParameter(f"Duplicate mount point: {p.mp.destination}")
        user.add(p.mp.destination)
        points[p.mp.destination] = p
    for raw_dest in config_volumes or {}:
        if not raw_dest.startswith("/"):
            raise InvalidParameter(
                f'{_invalid_spec(raw_dest)}: invalid mount config for type "volume": '
                f"invalid mount path: '{raw_dest}' mount path must be absolute"
            )
        dest = posixpath.normpath(raw_dest)
        if dest == "/":
            raise InvalidParameter("invalid specification: destination can't be '/'")
        if dest in points or dest in tmpfs_dests:
            continue
        points[dest] = Planned(
            MountPoint(type="volume", destination=dest, driver=volume_driver, copy_data=True)
        )
    return list(points.values())


def depth(dest: str) -> int:
    return posixpath.normpath(dest).count("/")


# ---- realising: volumes at create, OCI mounts at start ------------------------


def realize(
    planned: list[Planned], volumes: Any, *, populate_from: Callable[[], Any] | None = None
) -> tuple[list[MountPoint], list[str]]:
    """Create (or find) the volumes the mount points name and fill new, empty ones from
    the image. Returns the mount points and the volumes made now, which the caller
    removes if the container is not created after all. All checks come first, so a bad
    request creates nothing."""
    from berth.engine.errors import NotFound
    from berth.engine.volumes import local
    from berth.engine.volumes.model import DEFAULT_DRIVER, validate_name

    for p in planned:
        m = p.mp
        if m.type != "volume":
            continue
        if p.existing:
            if m.name and volumes.maybe(m.name) is None:
                raise NotFound(f"get {m.name}: no such volume")
            continue
        if m.name and volumes.maybe(m.name) is not None:
            continue
        if m.name:
            validate_name(m.name)
        if m.driver and m.driver != DEFAULT_DRIVER:
            raise NotFound(
                f"create {m.name}: error looking up volume plugin {m.driver}: "
                f'plugin "{m.driver}" not found'
            )
        try:
            local.validate_opts(p.driver_opts)
        except InvalidParameter as exc:
            raise InvalidParameter(f"create {m.name}: {exc.message}") from None
    made: list[str] = []
    out: list[MountPoint] = []
    try:
        for p in planned:
            m = p.mp
            if m.type == "volume":
                if p.existing:
                    v = volumes.get(m.name)
                else:
                    v, new = volumes.create(m.name, m.driver, p.driver_opts, p.labels)
                    if new:
                        made.append(v.name)
                m = dataclasses.replace(m, name=v.name, driver=v.driver, source=v.mountpoint)
            out.append(m)
        if populate_from is not None:
            _populate(out, volumes, populate_from)
    except BaseException:
        for name in made:
            volumes.remove(name, force=True)
        raise
    return out, made


def _populate(mps: list[MountPoint], volumes: Any, rootfs_ctx: Callable[[], Any]) -> None:
    """dockerd copies the image's files at the destination into an empty local volume
    without mount options, once, when the container is created."""
    from berth.engine.volumes import local
    from berth.runtime import fdtree, rootdir

    todo = []
    for m in mps:
        if m.type != "volume" or not m.copy_data:
            continue
        v = volumes.maybe(m.name)
        if v is None or v.options or not local.is_empty_dir(v.mountpoint):
            continue
        todo.append((m, v))
    if not todo:
        return
    # through fds on both sides: the image decides where its links point, and a named
    # volume may already be mounted in a running container that renames in it
    with rootfs_ctx() as root_path, rootdir.Root(root_path) as root:
        for m, v in todo:
            try:
                src = root.open_dir(m.destination)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                dst = os.open(v.mountpoint, flags)
                try:
                    fdtree.copy_tree(src, dst)
                finally:
                    os.close(dst)
            finally:
                os.close(src)


def oci_mounts(
    mps: list[MountPoint], tmpfs: dict[str, str] | None, volumes: Any, cid: str
) -> list[dict]:
    """The user's mounts for config.json; volumes are acquired for `cid` (release()
    them when the container stops)."""
    out: list[dict] = []
    acquired: list[str] = []
    try:
        for m in mps:
            if m.type == "tmpfs":
                out.append(_tmpfs(m.destination, m.tmpfs_data))
                continue
            if m.type == "volume":
                source = volumes.acquire(m.name, cid, destination=m.destination, rw=m.rw)
                acquired.append(m.name)
            else:
                source = m.source
                if not os.path.exists(source):
                    if m.must_exist:
                        raise _mount_config_error(
                            "bind", f"bind source path does not exist: {source}"
                        )
                    os.makedirs(source, 0o755, exist_ok=True)
            opts = ["bind" if m.nonrecursive else "rbind"]
            if not m.rw:
                opts.append("ro")
            if m.propagation:
                opts.append(m.propagation)
            out.append({"destination": m.destination, "type": "bind", "source": source,
                        "options": opts})  # fmt: skip
        for dest, data in (tmpfs or {}).items():
            out.append(_tmpfs(posixpath.normpath(dest), data or ""))
    except BaseException:
        for name in acquired:
            volumes.release(name, cid)
        raise
    return out


def _tmpfs(dest: str, data: str) -> dict:
    return {"destination": dest, "type": "tmpfs", "source": "tmpfs",
            "options": tmpfs_options(data)}  # fmt: skip


def release(mps: list[MountPoint], volumes: Any, cid: str) -> None:
    for m in mps:
        if m.type == "volume":
            volumes.release(m.name, cid)


def adopt(mps: list[MountPoint], volumes: Any, cid: str) -> None:
    for m in mps:
        if m.type == "volume":
            volumes.adopt(m.name, cid)


def remove_anonymous(mps: list[MountPoint], volumes: Any) -> None:
    """What `docker rm -v` and --rm do: drop the container's anonymous volumes that no
    other container uses (named ones stay)."""
    from berth.engine.errors import Conflict, NotFound

    for m in mps:
        if m.type != "volume":
            continue
        v = volumes.maybe(m.name)
        if v is None or not v.anonymous:
            continue
        try:
            volumes.remove(m.name)
        except (Conflict, NotFound):
            pass  # still used by another container: not an error, as in dockerd


def users_of(containers: list[Any], name: str) -> list[str]:
    return [
        c.id
        for c in containers
        if any(m.get("type") == "volume" and m.get("name") == name for m in c.mount_points)
    ]
