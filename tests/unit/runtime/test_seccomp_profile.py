"""seccomp.profile: dockerd's profile format decoded as dockerd decodes it, and resolved into
OCI linux.seccomp exactly as moby's setupSeccomp resolves it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from berth.runtime import capabilities
from berth.runtime.seccomp import profile
from berth.runtime.seccomp.profile import ProfileError, parse_profile, to_oci

DEFAULT_CAPS = list(capabilities.DOCKER_DEFAULT)


def _rules_for(oci: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [r for r in oci["syscalls"] if name in r["names"]]


def _names(oci: dict[str, Any]) -> set[str]:
    return {n for r in oci["syscalls"] for n in r["names"]}


def test_default_profile_is_dockerds_and_parsed_once() -> None:
    d = profile.default_profile()
    assert d["defaultAction"] == "SCMP_ACT_ERRNO" and d["defaultErrnoRet"] == 1
    assert len(d["syscalls"]) > 20 and d["archMap"]
    d["syscalls"].clear()  # a caller's copy: the cached profile is not touched
    assert profile.default_profile()["syscalls"]
    assert profile._default.cache_info().misses == 1


def test_default_profile_round_trips_through_the_parser() -> None:
    d = profile.default_profile()
    assert parse_profile(json.dumps(d)) == d


def test_default_caps_deny_the_namespace_and_key_calls() -> None:
    oci = to_oci(profile.default_profile(), DEFAULT_CAPS, "x86_64")
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO" and oci["defaultErrnoRet"] == 1
    names = _names(oci)
    for denied in ("unshare", "setns", "mount", "keyctl", "add_key", "perf_event_open", "bpf"):
        assert denied not in names
    assert {"read", "execve", "capset", "setresuid", "close_range", "prctl"} <= names
    # chroot comes with CAP_SYS_CHROOT, which Docker grants by default
    assert "chroot" in names
    # without CAP_SYS_ADMIN: clone only without namespace flags, clone3 answers ENOSYS
    (clone,) = _rules_for(oci, "clone")
    assert clone["args"] == [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]
    (clone3,) = _rules_for(oci, "clone3")
    assert clone3 == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    assert not any("includes" in r or "excludes" in r or "comment" in r for r in oci["syscalls"])


def test_capabilities_switch_rules_on_and_off() -> None:
    admin = to_oci(profile.default_profile(), [*DEFAULT_CAPS, "CAP_SYS_ADMIN"], "x86_64")
    assert {"unshare", "setns", "mount", "clone3", "bpf"} <= _names(admin)
    # the unconditional clone replaces the masked one (excludes caps) ...
    assert [r.get("args") for r in _rules_for(admin, "clone")] == [None]
    # ... and clone3 is allowed, not ENOSYS
    assert all(r["action"] == "SCMP_ACT_ALLOW" for r in _rules_for(admin, "clone3"))
    # short names are the same capabilities
    short = to_oci(profile.default_profile(), ["SYS_ADMIN", "sys_ptrace"], "x86_64")
    assert {"unshare", "kcmp"} <= _names(short)
    none = to_oci(profile.default_profile(), [], "x86_64")
    assert "chroot" not in _names(none)
    perf = to_oci(profile.default_profile(), ["CAP_PERFMON"], "x86_64")
    assert "perf_event_open" in _names(perf)


@pytest.mark.parametrize(
    ("machine", "arches", "has", "lacks"),
    [
        ("x86_64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
         {"arch_prctl", "modify_ldt"}, {"arm_fadvise64_64", "riscv_flush_icache"}),
        ("amd64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], {"arch_prctl"}, set()),
        ("aarch64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
         {"arm_fadvise64_64", "sync_file_range2"}, {"arch_prctl", "modify_ldt"}),
        ("riscv64", ["SCMP_ARCH_RISCV64"], {"riscv_flush_icache"}, {"arch_prctl"}),
        ("s390x", ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"], {"s390_runtime_instr"}, {"arch_prctl"}),
    ],
)  # fmt: skip
def test_architecture_conditions(
    machine: str, arches: list[str], has: set[str], lacks: set[str]
) -> None:
    oci = to_oci(profile.default_profile(), DEFAULT_CAPS, machine)
    assert oci["architectures"] == arches
    assert has <= _names(oci) and not lacks & _names(oci)


def test_s390_clone_checks_its_second_argument() -> None:
    (clone,) = _rules_for(to_oci(profile.default_profile(), DEFAULT_CAPS, "s390x"), "clone")
    assert clone["args"][0]["index"] == 1


def test_unknown_architecture_gets_no_arch_list() -> None:
    oci = to_oci(profile.default_profile(), DEFAULT_CAPS, "sparc64")
    assert "architectures" not in oci


def _prof(*syscalls: dict[str, Any], **top: Any) -> dict[str, Any]:
    return parse_profile(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", **top,
                                     "syscalls": list(syscalls)}))  # fmt: skip


def test_min_kernel_includes_and_excludes() -> None:
    prof = _prof(
        {"names": ["new_call"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "5.6"}},
        {"names": ["old_call"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "5.6"}},
    )
    assert _names(to_oci(prof, [], kernel="5.6.0-1-amd64")) == {"new_call"}
    assert _names(to_oci(prof, [], kernel="5.10")) == {"new_call"}
    assert _names(to_oci(prof, [], kernel="4.19.2-gentoo")) == {"old_call"}
    assert _names(to_oci(prof, [], kernel="6.1")) == {"new_call"}


def test_includes_need_every_cap_excludes_any() -> None:
    prof = _prof(
        {"names": ["both"], "action": "SCMP_ACT_ERRNO",
         "includes": {"caps": ["CAP_NET_ADMIN", "CAP_SYS_TIME"]}},
        {"names": ["neither"], "action": "SCMP_ACT_ERRNO",
         "excludes": {"caps": ["CAP_NET_ADMIN", "CAP_SYS_TIME"]}},
        {"names": ["not_arm"], "action": "SCMP_ACT_ERRNO", "excludes": {"arches": ["arm64"]}},
    )  # fmt: skip
    assert _names(to_oci(prof, ["CAP_NET_ADMIN"], "x86_64")) == {"not_arm"}
    assert _names(to_oci(prof, ["CAP_NET_ADMIN", "CAP_SYS_TIME"], "aarch64")) == {"both"}
    assert _names(to_oci(prof, [], "aarch64")) == {"neither"}


def test_errno_values_args_and_legacy_name() -> None:
    prof = parse_profile(json.dumps({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"name": "personality", "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "comment": "no"},
        ],
    }))  # fmt: skip
    oci = to_oci(prof, [], "aarch64")
    assert oci == {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "architectures": ["SCMP_ARCH_X86_64"],  # a plain list is kept as it is, on any arch
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        ],
    }  # fmt: skip


def test_empty_profile_means_no_filter() -> None:
    assert to_oci(parse_profile("{}"), DEFAULT_CAPS) == {}
    assert to_oci(parse_profile('{"syscalls": []}'), DEFAULT_CAPS) == {}
    assert to_oci(parse_profile("null"), DEFAULT_CAPS) == {}


def test_go_decoding_rules() -> None:
    # keys match case-insensitively, unknown keys and nulls are ignored, the last spelling wins
    prof = parse_profile(
        '{"DEFAULTACTION": "SCMP_ACT_KILL", "defaultaction": "SCMP_ACT_ALLOW", "x": 1,'
        ' "Syscalls": [{"Names": ["mkdir"], "Action": "SCMP_ACT_ERRNO",'
        ' "errnoRet": null, "args": null}]}'
    )
    assert prof == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}],
    }
    # a null inside a list is Go's zero value: here an empty (and so refused) name
    with pytest.raises(ProfileError, match="empty string"):
        parse_profile('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": '
                      '[{"names": [null], "action": "SCMP_ACT_ERRNO"}]}')  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "Decoding seccomp profile failed: Expecting property name"),
        ("[]", "Decoding seccomp profile failed: json: cannot unmarshal array into Go value "
               "of type seccomp.Seccomp"),
        ('{"defaultAction": 1}', "Decoding seccomp profile failed: json: cannot unmarshal "
         "number into Go struct field Seccomp.defaultAction of type specs.LinuxSeccompAction"),
        ('{"defaultErrnoRet": -1}', "cannot unmarshal number -1 into Go struct field "
         "Seccomp.defaultErrnoRet of type uint"),
        ('{"defaultErrnoRet": 1.5}', "cannot unmarshal number 1.5 into"),
        ('{"syscalls": {}}', "cannot unmarshal object into Go struct field Seccomp.syscalls "
         "of type []*seccomp.Syscall"),
        ('{"syscalls": [{"names": "read"}]}', "cannot unmarshal string into Go struct field "
         "Syscall.syscalls.names of type []string"),
        ('{"syscalls": [{"args": [{"index": "0"}]}]}', "cannot unmarshal string into Go "
         "struct field LinuxSeccompArg.syscalls.args.index of type uint"),
        ('{"syscalls": [{"includes": {"minKernel": "5"}}]}',
         'invalid kernel version: "5", expected "<kernel>.<major>"'),
        ('{"syscalls": [{"includes": {"minKernel": "0.0"}}]}', "version cannot be 0.0"),
        ('{"syscalls": [{"includes": {"minKernel": 5}}]}', "invalid kernel version: 5"),
        ('{"defaultAction": NaN}', "Decoding seccomp profile failed: invalid character 'N'"),
    ],
)  # fmt: skip
def test_decode_errors_read_like_dockerd(text: str, message: str) -> None:
    with pytest.raises(ProfileError) as e:
        parse_profile(text)
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize(
    ("prof", "message"),
    [
        ({"defaultAction": "SCMP_ACT_WHATEVER"}, "SCMP_ACT_WHATEVER is not a valid action"),
        ({"defaultAction": "SCMP_ACT_NOTIFY"}, "SCMP_ACT_NOTIFY (defaultAction) is not supported"),
        ({"defaultAction": "SCMP_ACT_ALLOW",
          "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
         "SCMP_ACT_NOTIFY (the rule for mkdir) is not supported"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"]}]},
         "the rule for mkdir has no action"),
        ({"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ALLOW"}]},
         "defaultAction must be set"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
         "string SCMP_ARCH_VAX is not a valid arch for seccomp"),
        ({"defaultAction": "SCMP_ACT_ALLOW",
          "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["x86"]}]},
         "string x86 is not a valid arch"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
          "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]},
         "both 'architectures' and 'archMap' are specified"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"],
                                                           "action": "SCMP_ACT_ALLOW"}]},
         "both 'name' and 'names' are specified"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]},
         "string SCMP_CMP_ABOUT is not a valid operator for seccomp (in the rule for mkdir)"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
         "argument index 6 is out of range"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": [""], "action": "SCMP_ACT_ERRNO"}]}, "empty string is not a valid syscall"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NEW_LISTENER"]},
         "seccomp flag SECCOMP_FILTER_FLAG_NEW_LISTENER is not known"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"},
         "listenerPath is not supported"),
    ],
)  # fmt: skip
def test_profiles_no_runtime_could_load_are_refused(prof: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError) as e:
        parse_profile(json.dumps(prof))
    assert message in str(e.value)
