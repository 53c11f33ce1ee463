"""`--security-opt`, read as dockerd reads it, and what it makes of a container's start:
no_new_privs, the seccomp filter (dockerd's profile format, resolved against the
container's capabilities), and the system paths left unmasked.

Options are parsed at create (so that a typo fails there, with dockerd's text) and again
at start from the stored HostConfig.SecurityOpt, which keeps them as the client sent them.
An option berth cannot honour is refused, never stored and ignored: AppArmor profiles and
SELinux labels are accepted only on hosts that have neither (where dockerd ignores them
too), with a warning that says so.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

from berth.engine.containers.model import HostConfig
from berth.engine.errors import InvalidParameter, SystemError_
from berth.runtime import capabilities
from berth.runtime.seccomp import profile as seccomp_profile

BUILTIN = "builtin"
UNCONFINED = "unconfined"

# strconv.ParseBool's spellings
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


@dataclass(frozen=True)
class SecurityOptions:
    no_new_privileges: bool = False
    # "" (the daemon's default), "builtin", "unconfined" or a profile's JSON text
    seccomp: str = ""
    apparmor: str = ""
    labels: tuple[str, ...] = ()
    unconfined_system_paths: bool = False
    warnings: tuple[str, ...] = field(default=(), compare=False)


def _bad(n: int, opt: str) -> InvalidParameter:
    return InvalidParameter(f"invalid --security-opt {n}: {_go_quote(opt)}")


def _go_quote(s: str) -> str:
    """Go's %q for the plain strings that reach an error message."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse(opts: list[str] | None) -> SecurityOptions:
    """dockerd's parseSecurityOpt; InvalidParameter with its text for anything else."""
    nnp = False
    seccomp = apparmor = ""
    labels: list[str] = []
    system_paths = False
    for opt in opts or []:
        if not isinstance(opt, str):
            raise InvalidParameter("invalid --security-opt: options must be strings")
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "disable":
            labels.append("disable")
            continue
        if "=" in opt:
            key, _, val = opt.partition("=")
        elif ":" in opt:  # the pre-17.04 separator dockerd still reads
            key, _, val = opt.partition(":")
        else:
            raise _bad(1, opt)
        if key == "label":
            labels.append(val)
        elif key == "apparmor":
            apparmor = val
        elif key == "seccomp":
            seccomp = val
        elif key == "no-new-privileges":
            if val in _TRUE:
                nnp = True
            elif val in _FALSE:
                nnp = False
            else:
                raise _bad(2, opt)
        elif key == "systempaths":
            if val != UNCONFINED:
                raise _bad(2, opt)
            system_paths = True
        else:
            raise _bad(2, opt)
    return SecurityOptions(nnp, seccomp, apparmor, tuple(labels), system_paths)


def validate(hc: HostConfig) -> tuple[str, ...]:
    """Check HostConfig.SecurityOpt at create; return the warnings for the response."""
    so = parse(hc.security_opt)
    warnings: list[str] = []
    if so.seccomp not in ("", BUILTIN, UNCONFINED):
        if not seccomp_profile.available():
            raise InvalidParameter(
                "seccomp is not enabled in your kernel, cannot run a custom seccomp profile."
            )
        try:
            seccomp_profile.parse_profile(so.seccomp)
        except seccomp_profile.ProfileError as exc:
            raise InvalidParameter(str(exc)) from None
    if so.apparmor and so.apparmor != UNCONFINED:
        if _apparmor_enabled():
            raise InvalidParameter(
                f"apparmor={so.apparmor}: berth does not load AppArmor profiles; "
                "use apparmor=unconfined or leave the option out"
            )
        warnings.append(
            f"AppArmor is not enabled on this host: --security-opt apparmor={so.apparmor} "
            "has no effect"
        )
    real_labels = [lb for lb in so.labels if lb != "disable"]
    if real_labels:
        if _selinux_enabled():
            raise InvalidParameter(
                f"label={real_labels[0]}: berth does not apply SELinux labels; "
                "use label=disable or leave the option out"
            )
        warnings.append("SELinux is not enabled on this host: --security-opt label= has no effect")
    return tuple(warnings)


@functools.cache
def _apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


@functools.cache
def _selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


@dataclass(frozen=True)
class Confinement:
    """The RuntimeSpec fields that --security-opt and --privileged decide."""

    no_new_privileges: bool
    seccomp: dict[str, Any] | None  # an OCI linux.seccomp object, or None for no filter
    unconfined_system_paths: bool


def confinement(hc: HostConfig, daemon_profile: str = "") -> Confinement:
    """What a start of a container with `hc` runs under. `daemon_profile` is berthd's
    --seccomp-profile ("" or "builtin": the default; "unconfined"; or a profile's text).
    As dockerd: --privileged and seccomp=unconfined run without a filter."""
    so = parse(hc.security_opt)
    choice = so.seccomp or daemon_profile or BUILTIN
    filt: dict[str, Any] | None = None
    if not hc.privileged and choice != UNCONFINED and seccomp_profile.available():
        caps = tuple(capabilities.tweak(list(hc.cap_add or []), list(hc.cap_drop or [])))
        try:
            filt = _resolved(choice, caps)
        except seccomp_profile.ProfileError as exc:
            raise SystemError_(f"Error loading seccomp profile: {exc}") from None
    elif not hc.privileged and choice not in (BUILTIN, UNCONFINED):
        raise SystemError_(
            "seccomp is not enabled in your kernel, cannot run a custom seccomp profile."
        )
    return Confinement(so.no_new_privileges, filt, so.unconfined_system_paths)


@functools.lru_cache(maxsize=32)
def _resolved(choice: str, caps: tuple[str, ...]) -> dict[str, Any]:
    # The default profile with the default capabilities is what nearly every start asks
    # for: resolving its conditional rules once keeps it off the start path. Callers get
    # the cached dict and must not change it.
    prof = (
        seccomp_profile.default_profile()
        if choice == BUILTIN
        else seccomp_profile.parse_profile(choice)
    )
    return seccomp_profile.to_oci(prof, list(caps))


def info_options(daemon_profile: str = "") -> list[str]:
    """`docker info`'s SecurityOptions entries for seccomp (before name=cgroupns)."""
    if not seccomp_profile.available():
        return []
    if daemon_profile == UNCONFINED:
        return ["name=seccomp,profile=unconfined"]
    if daemon_profile not in ("", BUILTIN):
        return ["name=seccomp,profile=custom"]
    return ["name=seccomp,profile=builtin"]
