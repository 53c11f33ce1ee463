"""--security-opt read as dockerd reads it: every spelling it takes, its errors for the rest."""

from __future__ import annotations

import pytest

from berth.engine.containers import security
from berth.engine.containers.model import HostConfig
from berth.engine.errors import InvalidParameter


@pytest.mark.parametrize(
    ("opts", "nnp"),
    [
        (["no-new-privileges"], True),
        (["no-new-privileges=true"], True),
        (["no-new-privileges:true"], True),
        (["no-new-privileges=1"], True),
        (["no-new-privileges=false"], False),
        (["no-new-privileges", "no-new-privileges=false"], False),
        ([], False),
    ],
)
def test_no_new_privileges(opts: list[str], nnp: bool) -> None:
    assert security.parse(opts).no_new_privileges is nnp


def test_values() -> None:
    so = security.parse(
        ["seccomp=unconfined", "apparmor=unconfined", "label=disable", "systempaths=unconfined"]
    )
    assert so.seccomp == "unconfined" and so.apparmor == "unconfined"
    assert so.labels == ("disable",) and so.unconfined_system_paths


@pytest.mark.parametrize(
    ("opt", "message"),
    [
        ("bogus=1", 'invalid --security-opt 2: "bogus=1"'),
        ("bogus", 'invalid --security-opt 1: "bogus"'),
        ("no-new-privileges=maybe", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
        ("systempaths=confined", 'invalid --security-opt 2: "systempaths=confined"'),
    ],
)
def test_refused_with_dockerds_text(opt: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as exc:
        security.validate(HostConfig(security_opt=[opt]))
    assert exc.value.message == message


def test_non_string_option_refused() -> None:
    with pytest.raises(InvalidParameter):
        security.parse([1])  # type: ignore[list-item]


def test_apparmor_on_a_host_without_it_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_apparmor_enabled", lambda: False)
    warnings = security.validate(HostConfig(security_opt=["apparmor=docker-default"]))
    assert len(warnings) == 1 and "AppArmor is not enabled" in warnings[0]
    assert security.validate(HostConfig(security_opt=["apparmor=unconfined"])) == ()


def test_apparmor_profile_refused_where_it_would_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    # berth loads no AppArmor profiles: on a host that enforces them, asking for one is refused
    monkeypatch.setattr(security, "_apparmor_enabled", lambda: True)
    with pytest.raises(InvalidParameter, match="AppArmor"):
        security.validate(HostConfig(security_opt=["apparmor=docker-default"]))
