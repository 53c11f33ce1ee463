"""Endpoint resolution: flags, environment and the docker CLI's context store, by docker's rules."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from berth.client.contexts import (
    DEFAULT_TLS_HOST,
    EndpointError,
    GlobalOptions,
    TLSSettings,
    resolve_endpoint,
)
from berth.constants import DEFAULT_HOST


def _cid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def write_context(
    cfg: Path,
    name: str,
    host: str,
    skip: bool = False,
    tls_files: tuple[str, ...] = (),
) -> Path:
    """A context laid out as `docker context create` lays it out."""
    meta = cfg / "contexts" / "meta" / _cid(name)
    meta.mkdir(parents=True)
    doc = {
        "Name": name,
        "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip}},
    }
    (meta / "meta.json").write_text(json.dumps(doc))
    tls = cfg / "contexts" / "tls" / _cid(name) / "docker"
    if tls_files:
        tls.mkdir(parents=True)
        for f in tls_files:
            (tls / f).write_text("pem")
    return tls


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose HOME is a fresh directory with a ~/.docker."""
    (tmp_path / ".docker").mkdir()
    return {"HOME": str(tmp_path)}


def cfg_of(env: dict[str, str]) -> Path:
    return Path(env["HOME"]) / ".docker"


def use(env: dict[str, str], name: str) -> None:
    (cfg_of(env) / "config.json").write_text(json.dumps({"currentContext": name}))


# ---- which context ----------------------------------------------------------------
def test_nothing_set_is_the_berth_socket(home: dict[str, str]) -> None:
    ep = resolve_endpoint(GlobalOptions(), home)
    assert (ep.host, ep.tls, ep.context) == (DEFAULT_HOST, None, "default")


def test_current_context_from_config_json(home: dict[str, str]) -> None:
    write_context(cfg_of(home), "remote", "tcp://10.0.0.5:2375")
    use(home, "remote")
    ep = resolve_endpoint(GlobalOptions(), home)
    assert (ep.host, ep.context, ep.tls) == ("tcp://10.0.0.5:2375", "remote", None)


@pytest.mark.parametrize(
    "opts, env, want",
    [
        # DOCKER_HOST beats config.json's current context (and so does BERTH_HOST)
        (GlobalOptions(), {"DOCKER_HOST": "unix:///d.sock"}, "unix:///d.sock"),
        (GlobalOptions(), {"BERTH_HOST": "unix:///b.sock"}, "unix:///b.sock"),
        # ... and DOCKER_HOST beats DOCKER_CONTEXT too (docker/cli resolveContextName)
        (
            GlobalOptions(),
            {"DOCKER_HOST": "unix:///d.sock", "DOCKER_CONTEXT": "other"},
            "unix:///d.sock",
        ),
        # DOCKER_CONTEXT beats config.json
        (GlobalOptions(), {"DOCKER_CONTEXT": "other"}, "tcp://10.9.9.9:2375"),
        # --context beats DOCKER_HOST
        (GlobalOptions(context="other"), {"DOCKER_HOST": "unix:///d.sock"}, "tcp://10.9.9.9:2375"),
        # -H beats everything
        (GlobalOptions(host="unix:///h.sock"), {"DOCKER_CONTEXT": "other"}, "unix:///h.sock"),
        # "default" is the default host, whatever config.json says
        (GlobalOptions(context="default"), {}, DEFAULT_HOST),
        (GlobalOptions(), {"DOCKER_CONTEXT": "default"}, DEFAULT_HOST),
    ],
)
def test_precedence(
    home: dict[str, str], opts: GlobalOptions, env: dict[str, str], want: str
) -> None:
    write_context(cfg_of(home), "remote", "tcp://10.0.0.5:2375")
    write_context(cfg_of(home), "other", "tcp://10.9.9.9:2375")
    use(home, "remote")
    assert resolve_endpoint(opts, {**home, **env}).host == want


def test_host_and_context_conflict(home: dict[str, str]) -> None:
    with pytest.raises(
        EndpointError, match=r"^conflicting options: cannot specify both --host and --context$"
    ):
        resolve_endpoint(GlobalOptions(host="unix:///x", context="y"), home)


def test_unknown_context_names_the_meta_file(home: dict[str, str]) -> None:
    with pytest.raises(EndpointError) as ei:
        resolve_endpoint(GlobalOptions(context="nope"), home)
    meta = cfg_of(home) / "contexts" / "meta" / _cid("nope") / "meta.json"
    assert str(ei.value) == (
        f'unable to resolve docker endpoint: context "nope": context not found: '
        f"open {meta}: no such file or directory"
    )


def test_current_context_that_is_gone_is_an_error(home: dict[str, str]) -> None:
    use(home, "gone")
    with pytest.raises(EndpointError, match='context "gone": context not found'):
        resolve_endpoint(GlobalOptions(), home)


def test_docker_config_and_config_flag_move_the_store(tmp_path: Path) -> None:
    for d, host in (("a", "tcp://10.0.0.1:1"), ("b", "tcp://10.0.0.2:2")):
        (tmp_path / d).mkdir()
        write_context(tmp_path / d, "x", host)
    env = {"HOME": str(tmp_path), "DOCKER_CONFIG": str(tmp_path / "a")}
    assert resolve_endpoint(GlobalOptions(context="x"), env).host == "tcp://10.0.0.1:1"
    opts = GlobalOptions(context="x", config=str(tmp_path / "b"))
    assert resolve_endpoint(opts, env).host == "tcp://10.0.0.2:2"


def test_broken_meta_json_is_one_error(home: dict[str, str]) -> None:
    write_context(cfg_of(home), "bad", "x")
    (cfg_of(home) / "contexts" / "meta" / _cid("bad") / "meta.json").write_text("{not json")
    with pytest.raises(EndpointError, match='context "bad": parsing'):
        resolve_endpoint(GlobalOptions(context="bad"), home)


# ---- TLS of a context -------------------------------------------------------------
def test_context_tls_material(home: dict[str, str]) -> None:
    tls = write_context(
        cfg_of(home), "t", "tcp://h:2376", tls_files=("ca.pem", "cert.pem", "key.pem")
    )
    ep = resolve_endpoint(GlobalOptions(context="t"), home)
    assert ep.tls == TLSSettings(
        str(tls / "ca.pem"), str(tls / "cert.pem"), str(tls / "key.pem"), True
    )


def test_context_without_tls_files_is_plain(home: dict[str, str]) -> None:
    write_context(cfg_of(home), "p", "tcp://h:2375")
    assert resolve_endpoint(GlobalOptions(context="p"), home).tls is None


def test_context_skip_verify_alone_turns_tls_on(home: dict[str, str]) -> None:
    write_context(cfg_of(home), "s", "tcp://h:2376", skip=True)
    assert resolve_endpoint(GlobalOptions(context="s"), home).tls == TLSSettings(verify=False)


def test_context_ca_only_sends_no_client_cert(home: dict[str, str]) -> None:
    tls = write_context(cfg_of(home), "c", "tcp://h:2376", tls_files=("ca.pem", "cert.pem"))
    assert resolve_endpoint(GlobalOptions(context="c"), home).tls == TLSSettings(
        ca=str(tls / "ca.pem")
    )


def test_context_flags_do_not_apply(home: dict[str, str]) -> None:
    # docker applies --tls* only to the default context
    write_context(cfg_of(home), "p", "tcp://h:2375")
    assert resolve_endpoint(GlobalOptions(context="p", tlsverify=True), home).tls is None


# ---- TLS of the default context ---------------------------------------------------
def _certs(d: Path, *names: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for n in names:
        (d / n).write_text("pem")
    return d


@pytest.mark.parametrize(
    "opts, env, want_verify",
    [
        (GlobalOptions(tlsverify=True), {}, True),
        (GlobalOptions(tlsverify=False), {}, False),  # --tlsverify=false still means TLS
        (GlobalOptions(tls=True), {}, False),
        (GlobalOptions(), {"DOCKER_TLS_VERIFY": "1"}, True),
        (GlobalOptions(), {"DOCKER_TLS_VERIFY": "0"}, True),  # any non-empty value
        (GlobalOptions(), {"DOCKER_TLS": "1"}, False),
        (GlobalOptions(tlsverify=False), {"DOCKER_TLS_VERIFY": "1"}, False),
    ],
)
def test_tls_on(
    home: dict[str, str], opts: GlobalOptions, env: dict[str, str], want_verify: bool
) -> None:
    _certs(cfg_of(home), "ca.pem", "cert.pem", "key.pem")
    ep = resolve_endpoint(opts, {**home, "DOCKER_HOST": "tcp://h:2376", **env})
    assert ep.tls is not None and ep.tls.verify is want_verify
    assert ep.tls.ca == str(cfg_of(home) / "ca.pem")
    assert ep.tls.cert == str(cfg_of(home) / "cert.pem")


@pytest.mark.parametrize("env", [{}, {"DOCKER_TLS_VERIFY": ""}, {"DOCKER_TLS": ""}])
def test_tls_off(home: dict[str, str], env: dict[str, str]) -> None:
    assert (
        resolve_endpoint(GlobalOptions(), {**home, "DOCKER_HOST": "tcp://h:1", **env}).tls is None
    )


def test_cert_path_and_defaults(tmp_path: Path, home: dict[str, str]) -> None:
    d = _certs(tmp_path / "certs", "ca.pem")  # no cert.pem/key.pem: sent without
    env = {
        **home,
        "DOCKER_TLS_VERIFY": "1",
        "DOCKER_CERT_PATH": str(d),
        "DOCKER_HOST": "tcp://h:2376",
    }
    assert resolve_endpoint(GlobalOptions(), env).tls == TLSSettings(ca=str(d / "ca.pem"))


def test_flags_name_the_files(tmp_path: Path, home: dict[str, str]) -> None:
    d = _certs(tmp_path / "f", "a.pem", "b.pem", "c.pem")
    opts = GlobalOptions(
        host="tcp://h:2376",
        tlsverify=True,
        tlscacert=str(d / "a.pem"),
        tlscert=str(d / "b.pem"),
        tlskey=str(d / "c.pem"),
    )
    assert resolve_endpoint(opts, home).tls == TLSSettings(
        str(d / "a.pem"), str(d / "b.pem"), str(d / "c.pem")
    )


def test_missing_ca_is_an_error_even_without_verify(home: dict[str, str]) -> None:
    ca = cfg_of(home) / "ca.pem"
    with pytest.raises(EndpointError) as ei:
        resolve_endpoint(GlobalOptions(tls=True, host="tcp://h:1"), home)
    assert (
        str(ei.value) == f"unable to resolve docker endpoint: open {ca}: no such file or directory"
    )


def test_missing_named_key_is_an_error(tmp_path: Path, home: dict[str, str]) -> None:
    _certs(cfg_of(home), "ca.pem", "cert.pem", "key.pem")
    with pytest.raises(EndpointError, match="nokey.pem: no such file or directory"):
        resolve_endpoint(GlobalOptions(tlsverify=True, tlskey=str(tmp_path / "nokey.pem")), home)


def test_tls_default_host_is_2376(home: dict[str, str]) -> None:
    _certs(cfg_of(home), "ca.pem")
    assert resolve_endpoint(GlobalOptions(tlsverify=True), home).host == DEFAULT_TLS_HOST


def test_tls_never_applies_to_a_socket(home: dict[str, str]) -> None:
    _certs(cfg_of(home), "ca.pem")
    ep = resolve_endpoint(GlobalOptions(tlsverify=True, host="unix:///x.sock"), home)
    assert ep.tls is None


def test_https_host_turns_tls_on(home: dict[str, str]) -> None:
    ep = resolve_endpoint(GlobalOptions(host="https://h"), home)
    assert ep.tls == TLSSettings(verify=True)


# ---- the global flags as berth's main parses them ------------------------------------
@pytest.mark.parametrize(
    "argv, want",
    [
        (["--tlsverify", "ps"], {"tlsverify": True}),
        (["--tlsverify=false", "ps"], {"tlsverify": False}),
        (["--tls", "--tlscacert", "/a", "--tlscert=/b", "--tlskey", "/c", "ps"],
         {"tls": True, "tlscacert": "/a", "tlscert": "/b", "tlskey": "/c"}),
        (["-c", "x", "ps"], {"context": "x"}),
        (["--context=x", "ps"], {"context": "x"}),
        (["-cx", "ps"], {"context": "x"}),
        (["-H", "unix:///a", "-Hunix:///b", "ps"], {"host": ["unix:///a", "unix:///b"]}),
        (["--config", "/cfg", "-l", "debug", "ps"], {"config": "/cfg"}),
    ],
)  # fmt: skip
def test_global_flags(argv: list[str], want: dict[str, object]) -> None:
    from berth.cli.main import _parse_globals

    given, rest = _parse_globals(argv)
    assert rest == ["ps"]
    given.pop("debug")
    assert given == want


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--tlsverify=maybe", "ps"],
         'invalid argument "maybe" for "--tlsverify" flag: strconv.ParseBool: parsing "maybe": invalid syntax'),
        (["--tlscacert"], "flag needs an argument: --tlscacert"),
        (["--tlsnope", "ps"], "unknown flag: --tlsnope"),
    ],
)  # fmt: skip
def test_global_flag_errors(argv: list[str], message: str) -> None:
    from berth.cli.main import _GlobalUsage, _parse_globals

    with pytest.raises(_GlobalUsage) as ei:
        _parse_globals(argv)
    assert str(ei.value) == message


def test_two_hosts_is_docker_error() -> None:
    from berth.cli.main import _global_options

    with pytest.raises(EndpointError, match="Specify only one -H"):
        _global_options({"host": ["unix:///a", "unix:///b"]})
