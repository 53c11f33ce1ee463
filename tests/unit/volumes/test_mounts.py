"""Mount-point rules (dockerd's volume/mounts parser) without a daemon."""

from __future__ import annotations

import pytest

from berth.engine.containers import mounts
from berth.engine.errors import InvalidParameter, NotFound


def test_bind_named_and_anonymous_volumes() -> None:
    b = mounts.parse_bind("/host/dir/:/ctr:ro").mp
    assert (b.type, b.source, b.destination, b.rw, b.mode, b.propagation) == (
        "bind", "/host/dir", "/ctr", False, "ro", "rprivate"
    )  # fmt: skip
    v = mounts.parse_bind("data:/data").mp
    assert (v.type, v.name, v.mode, v.rw, v.copy_data) == ("volume", "data", "z", True, True)
    assert mounts.parse_bind("data:/data:nocopy").mp.copy_data is False
    assert mounts.parse_bind("/h:/c:rslave").mp.propagation == "rslave"
    anon = mounts.parse_bind("/only").mp
    assert (anon.type, anon.name, anon.destination) == ("volume", "", "/only")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("/a:/b:/c:/d", "invalid volume specification: '/a:/b:/c:/d'"),
        ("/b:rw", "invalid volume specification: '/b:rw'"),
        ("/a:/b:bogus", "invalid mode: bogus"),
        ("/a:/b:ro,rw", "invalid mode: ro,rw"),
        ("data:rel", "invalid mount path: 'rel' mount path must be absolute"),
        ("/a:/", "destination can't be '/'"),
    ],
)
def test_bad_binds(raw: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as ei:
        mounts.parse_bind(raw)
    assert message in ei.value.message


def test_mount_specs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    b = mounts.parse_mount(
        {"Type": "bind", "Source": str(tmp_path), "Target": "/x",
         "BindOptions": {"Propagation": "rshared"}}
    ).mp  # fmt: skip
    assert (b.source, b.propagation, b.must_exist, b.mode) == (str(tmp_path), "rshared", True, "")
    p = mounts.parse_mount(
        {"Type": "volume", "Source": "v1", "Target": "/v",
         "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"},
                           "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}}
    )  # fmt: skip
    assert (p.mp.name, p.mp.copy_data, p.labels, p.driver_opts) == (
        "v1", False, {"a": "b"}, {"type": "tmpfs"}
    )  # fmt: skip
    t = mounts.parse_mount(
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1770}}
    ).mp
    assert t.tmpfs_data == "mode=1770,size=64m"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"Type": "bind", "Source": "/nonexistent-bt", "Target": "/x"},
         'invalid mount config for type "bind": bind source path does not exist: /nonexistent-bt'),
        ({"Type": "bind", "Target": "/x"}, "field Source must not be empty"),
        ({"Type": "bind", "Source": "/", "Target": "x"}, "mount path must be absolute"),
        ({"Type": "bind", "Source": "/", "Target": "/x", "BindOptions": {"Propagation": "no"}},
         "invalid propagation mode: no"),
        ({"Type": "volume", "Target": "/x", "ReadOnly": True},
         "must not set ReadOnly mode when using anonymous volumes"),
        ({"Type": "tmpfs", "Source": "x", "Target": "/x"}, "field Source must not be specified"),
        ({"Type": "nope", "Target": "/x"}, 'invalid mount config for type "nope": mount type unknown'),
        ({"Type": "volume", "Source": "v"}, "field Target must not be empty"),
    ],
)  # fmt: skip
def test_bad_mounts(spec: dict, message: str) -> None:
    with pytest.raises(InvalidParameter) as ei:
        mounts.parse_mount(spec)
    assert message in ei.value.message


def test_tmpfs_options_merge_later_wins() -> None:
    assert mounts.tmpfs_options("size=64m") == ["noexec", "nosuid", "nodev", "rprivate", "size=64m"]
    assert mounts.tmpfs_options("exec,size=1m,size=2m") == [
        "nosuid", "nodev", "rprivate", "exec", "size=2m"
    ]  # fmt: skip
    with pytest.raises(InvalidParameter, match=r'invalid tmpfs option \["foo"\]'):
        mounts.tmpfs_options("foo")


def test_parse_all_precedence_and_duplicates() -> None:
    class Other:
        mount_points = mounts.dump(
            [mounts.MountPoint(type="volume", destination="/shared", name="sv", rw=True)]
        )

    def get(ref: str) -> Other:
        if ref != "other":
            raise NotFound(f"No such container: {ref}")
        return Other()

    planned = mounts.parse_all(
        ["/h:/bound"],
        [{"Type": "tmpfs", "Target": "/t"}],
        {"/run": "size=1m"},
        ["other:ro"],
        {"/bound": {}, "/img": {}, "/run": {}, "/shared": {}},
        get_container=get,
    )
    by = {p.mp.destination: p for p in planned}
    assert set(by) == {"/shared", "/bound", "/t", "/img"}  # /run is a --tmpfs
    assert by["/shared"].existing and by["/shared"].mp.rw is False
    assert by["/img"].mp.type == "volume" and by["/img"].mp.name == ""
    with pytest.raises(InvalidParameter, match="Duplicate mount point: /x"):
        mounts.parse_all(["/a:/x", "/b:/x"], None, None, None, None, get_container=get)
    with pytest.raises(NotFound, match="No such container: nosuch"):
        mounts.parse_all(None, None, None, ["nosuch"], None, get_container=get)
    with pytest.raises(InvalidParameter, match="invalid mode: rx"):
        mounts.parse_all(None, None, None, ["other:rx"], None, get_container=get)


def test_api_shape_sorted_and_optional_fields() -> None:
    mps = [
        mounts.MountPoint(type="bind", destination="/b", source="/h", propagation="rprivate"),
        mounts.MountPoint(type="volume", destination="/a", name="n", driver="local", source="/s"),
    ]
    out = mounts.api_list(mounts.dump(mps))
    assert [m["Destination"] for m in out] == ["/a", "/b"]
    assert "Name" not in out[1] and "Driver" not in out[1]
    assert out[0]["Name"] == "n" and out[0]["Driver"] == "local"
