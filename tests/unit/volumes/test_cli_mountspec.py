"""`berth run --mount/-v` parsing into the create request, as the docker CLI does it."""

from __future__ import annotations

import os

import pytest

from berth.cli.commands import mountspec
from berth.cli.flags import Command, UsageError

CMD = Command("run", "berth run [OPTIONS] IMAGE")


def test_mount_fields() -> None:
    m = mountspec.parse_mount(
        CMD, "type=volume,src=v,dst=/d,ro,volume-nocopy,volume-label=a=b,volume-opt=type=tmpfs"
    )
    assert m == {
        "Type": "volume", "Source": "v", "Target": "/d", "ReadOnly": True,
        "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"},
                          "DriverConfig": {"Options": {"type": "tmpfs"}}},
    }  # fmt: skip
    t = mountspec.parse_mount(CMD, "type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770")
    assert t["TmpfsOptions"] == {"SizeBytes": 64 << 20, "Mode": 0o1770}
    b = mountspec.parse_mount(CMD, "type=bind,source=/h,destination=/c,bind-propagation=rslave")
    assert b["BindOptions"] == {"Propagation": "rslave"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("type=bind,src=/h", "target is required"),
        ("type=bind,src=/h,dst=/c,volume-nocopy", "cannot mix 'volume-*' options"),
        ("type=volume,dst=/c,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
        ("type=volume,dst=/c,src", "invalid field 'src' must be a key=value pair"),
    ],
)
def test_mount_errors(spec: str, message: str) -> None:
    with pytest.raises(UsageError) as ei:
        mountspec.parse_mount(CMD, spec)
    assert message in ei.value.message


def test_volume_flag_split() -> None:
    binds, vols = mountspec.split_volumes(["data:/d", "/anon", "./rel:/r:ro", "/h:/c"])
    assert binds == ["data:/d", os.path.abspath("rel") + ":/r:ro", "/h:/c"]
    assert vols == {"/anon": {}}
