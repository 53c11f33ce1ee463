"""push, login, logout, and the credentials store they share with the docker CLI
(~/.docker/config.json: base64 "auths", or docker-credential-* helpers)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any

from berth.cli.context import Context, StatusError
from berth.cli.flags import Command, Flag, parse

INDEX_SERVER = "https://index.docker.io/v1/"

PUSH = Command(
    "push",
    "berth push [OPTIONS] NAME[:TAG]",
    "Upload an image to a registry",
    [
        Flag("all-tags", "a", help="Push all tags of an image to the repository"),
        Flag("quiet", "q", help="Suppress verbose output"),
    ],
    min_args=1,
    max_args=1,
)
LOGIN = Command(
    "login",
    "berth login [OPTIONS] [SERVER]",
    "Authenticate to a registry",
    [
        Flag("username", "u", "str", "", help="Username"),
        Flag("password", "p", "str", "", help="Password"),
        Flag("password-stdin", "", help="Take the password from stdin"),
    ],
    max_args=1,
)
LOGOUT = Command("logout", "berth logout [SERVER]", "Log out from a registry", [], max_args=1)


# ---- the credentials store -----------------------------------------------------
def config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def _load() -> dict[str, Any]:
    try:
        with open(config_path()) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise StatusError(1, f"loading config file {config_path()}: {exc}") from None
    return doc if isinstance(doc, dict) else {}


def _save(doc: dict[str, Any]) -> None:
    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent="\t")
        f.write("\n")
    os.replace(tmp, path)


def server_key(domain: str) -> str:
    """The config.json key for a registry: Docker Hub keeps its historical URL."""
    return INDEX_SERVER if domain in ("docker.io", "index.docker.io", "") else domain


def _helper(doc: dict[str, Any], key: str) -> str:
    helpers = doc.get("credHelpers") or {}
    return str(helpers.get(key) or doc.get("credsStore") or "")


def _run_helper(helper: str, action: str, data: str) -> str:
    try:
        p = subprocess.run(
            [f"docker-credential-{helper}", action],
            input=data.encode(),
            capture_output=True,
            timeout=60,
        )
    except FileNotFoundError:
        raise StatusError(
            1,
            f'error getting credentials - err: exec: "docker-credential-{helper}": '
            "executable file not found in $PATH",
        ) from None
    out = p.stdout.decode().strip()
    if p.returncode != 0:
        if "credentials not found" in out.lower():
            return ""
        raise StatusError(1, f"error from docker-credential-{helper} {action}: {out}")
    return out


def get_credentials(domain: str) -> dict[str, str]:
    """{username, password, serveraddress[, identitytoken]} stored for `domain` ({} if none)."""
    key = server_key(domain)
    doc = _load()
    helper = _helper(doc, key)
    if helper:
        out = _run_helper(helper, "get", key)
        if not out:
            return {}
        got = json.loads(out)
        user, secret = got.get("Username", ""), got.get("Secret", "")
        if user == "<token>":
            return {"identitytoken": secret, "serveraddress": key}
        return {"username": user, "password": secret, "serveraddress": key}
    entry = (doc.get("auths") or {}).get(key) or {}
    found: dict[str, str] = {"serveraddress": key}
    if entry.get("auth"):
        user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
        found.update(username=user, password=pw)
    if entry.get("identitytoken"):
        found["identitytoken"] = entry["identitytoken"]
    return found if len(found) > 1 else {}


def store_credentials(domain: str, username: str, password: str) -> None:
    key = server_key(domain)
    doc = _load()
    helper = _helper(doc, key)
    auths = doc.setdefault("auths", {})
    if helper:
        _run_helper(
            helper,
            "store",
            json.dumps({"ServerURL": key, "Username": username, "Secret": password}),
        )
        auths[key] = {}
    else:
        auths[key] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    _save(doc)


def erase_credentials(domain: str) -> bool:
    key = server_key(domain)
    doc = _load()
    helper = _helper(doc, key)
    if helper:
        _run_helper(helper, "erase", key)
    auths = doc.get("auths") or {}
    found = auths.pop(key, None) is not None
    _save(doc)
    return found or bool(helper)


def auth_header(domain: str) -> dict[str, str]:
    """The X-Registry-Auth header for requests that reach `domain` (always sent, like docker)."""
    creds = get_credentials(domain)
    raw = json.dumps(creds).encode()
    return {"X-Registry-Auth": base64.urlsafe_b64encode(raw).decode()}


def domain_of(ref: str) -> str:
    """The registry of an image name, decided as docker's reference package does."""
    first, slash, _rest = ref.partition("/")
    if not slash or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        return "docker.io"
    return "docker.io" if first == "index.docker.io" else first


def _server_domain(server: str) -> str:
    """The registry a login server address names ("https://host/v1/" -> "host")."""
    s = server.strip()
    for prefix in ("https://", "http://"):
        s = s.removeprefix(prefix)
    s = s.split("/", 1)[0]
    return "docker.io" if s in ("", "docker.io", "index.docker.io", "registry-1.docker.io") else s


# ---- commands ------------------------------------------------------------------
def push(ctx: Context, argv: list[str]) -> int:
    """POST /images/{name}/push with the stored credentials; show the progress."""
    from berth.cli import progress
    from berth.cli.commands.common import split_repo_tag

    opts, args = parse(PUSH, argv)
    repo, tag = split_repo_tag(args[0])
    if opts.all_tags and tag:
        raise StatusError(1, "tag can't be used with --all-tags/-a")
    if not opts.all_tags and not tag:
        tag = "latest"
        if not opts.quiet:
            ctx.out("Using default tag: latest\n")
    from berth.client.transport import quote_name

    resp = ctx.client.transport.request(
        "POST",
        f"/images/{quote_name(repo)}/push",
        {"tag": tag} if tag else None,
        body=b"",
        headers=auth_header(domain_of(repo)),
    )
    with resp:
        out = open(os.devnull, "w") if opts.quiet else sys.stdout  # noqa: SIM115
        try:
            if not opts.quiet and os.isatty(1):
                progress.show_bars(resp.iter_json_lines(), out)
            else:
                progress.show(resp.iter_json_lines(), out)
        finally:
            if opts.quiet:
                out.close()
    if opts.quiet:
        ctx.out(args[0] + "\n")
    return 0


def login(ctx: Context, argv: list[str]) -> int:
    """POST /auth (the daemon checks against the registry), then store the credentials."""
    opts, args = parse(LOGIN, argv)
    server = args[0] if args else INDEX_SERVER
    domain = _server_domain(server)
    user, password = opts.username, opts.password
    if opts.password_stdin:
        if opts.password:
            raise StatusError(1, "--password and --password-stdin are mutually exclusive")
        if not user:
            raise StatusError(1, "Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    if not user or not password:
        stored = get_credentials(domain)
        if not user:
            if not ctx.stdin_is_tty():
                if stored.get("username"):
                    user, password = stored["username"], stored.get("password", "")
                else:
                    raise StatusError(
                        1, "Error: Cannot perform an interactive login from a non TTY device"
                    )
            else:
                ctx.out(f"Username ({stored.get('username', '')}): " if stored else "Username: ")
                sys.stdout.flush()
                user = sys.stdin.readline().strip() or stored.get("username", "")
        if not password:
            import getpass

            password = getpass.getpass("Password: ")
    if opts.password and not opts.password_stdin:
        ctx.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
    body = {"username": user, "password": password, "serveraddress": server_key(domain)}
    with ctx.client.transport.request("POST", "/auth", json_body=body) as resp:
        answer = resp.json() or {}
    store_credentials(domain, user, password)
    ctx.out(f"{answer.get('Status') or 'Login Succeeded'}\n")
    return 0


def logout(ctx: Context, argv: list[str]) -> int:
    """Remove the stored credentials of a registry."""
    _opts, args = parse(LOGOUT, argv)
    domain = _server_domain(args[0]) if args else "docker.io"
    key = server_key(domain)
    if not erase_credentials(domain):
        ctx.out(f"Not logged in to {key}\n")
        return 0
    ctx.out(f"Removing login credentials for {key}\n")
    return 0
