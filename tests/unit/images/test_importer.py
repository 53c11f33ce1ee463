"""`docker import --change` instructions applied to an image config."""

from __future__ import annotations

import json

import pytest

from berth.engine.errors import InvalidParameter
from berth.engine.images.importer import apply_changes, import_config, parse_platform
from berth.engine.images.model import ImageConfig


def applied(*changes: str) -> ImageConfig:
    return apply_changes(ImageConfig(), list(changes))


def test_cmd_and_entrypoint_json_and_shell_forms() -> None:
    c = applied('CMD ["sh", "-c", "echo hi"]', "ENTRYPOINT /bin/run --flag")
    assert c.cmd == ["sh", "-c", "echo hi"]
    assert c.entrypoint == ["/bin/sh", "-c", "/bin/run --flag"]


def test_env_forms_and_override() -> None:
    c = applied('ENV A=1 B="two words"', "ENV C legacy form value", "env A=3")
    assert c.env == ["B=two words", "C=legacy form value", "A=3"]


def test_label_expose_volume_user_workdir_stopsignal_onbuild() -> None:
    c = applied(
        'LABEL a=b "c d"=e',
        "EXPOSE 80 53/udp 8000-8001",
        'VOLUME ["/data"]',
        "VOLUME /a /b",
        "USER nobody:nogroup",
        "WORKDIR /srv",
        "WORKDIR app",
        "STOPSIGNAL SIGINT",
        "ONBUILD RUN true",
    )
    assert c.labels == {"a": "b", "c d": "e"}
    assert set(c.exposed_ports) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp"}
    assert set(c.volumes) == {"/data", "/a", "/b"}
    assert c.user == "nobody:nogroup"
    assert c.working_dir == "/srv/app"
    assert c.stop_signal == "SIGINT"
    assert c.onbuild == ["RUN true"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN echo hi", "RUN is not a valid change command"),
        ("FROM busybox", "FROM is not a valid change command"),
        ("EXPOSE http", "invalid containerPort: http"),
        ("ENV =x", "ENV names can not be blank"),
        ("ENV A", "ENV must have two arguments"),
        ("USER", "USER requires exactly one argument"),
        ("STOPSIGNAL not a signal", "Invalid signal"),
    ],
)
def test_invalid_changes(change: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as ei:
        applied(change)
    assert message in ei.value.message


def test_platform() -> None:
    assert parse_platform(None, "amd64") == ("linux", "amd64", "")
    assert parse_platform("linux/arm64/v8", "amd64") == ("linux", "arm64", "v8")
    with pytest.raises(InvalidParameter):
        parse_platform("windows/amd64", "amd64")


def test_import_config_shape() -> None:
    raw = json.loads(
        import_config(
            "sha256:" + "1" * 64, applied("CMD sh"), "Imported from -", "linux", "amd64", ""
        )
    )
    assert raw["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}
    assert raw["config"]["Cmd"] == ["/bin/sh", "-c", "sh"]
    assert raw["comment"] == "Imported from -" and raw["history"][0]["comment"] == "Imported from -"
    assert raw["os"] == "linux" and raw["architecture"] == "amd64"
