"""Seccomp for containers: dockerd-format profiles (profile.py, with berth's default in
default.json) resolved into OCI linux.seccomp objects, compiled to BPF by libseccomp
(compiler.py) in the shim and loaded by the executor's child just before execve."""

from __future__ import annotations


def prepare() -> None:
    """Compile the default profile for Docker's default capabilities into the in-process
    cache. Compiling costs 10-15 ms and nearly every container runs exactly that filter, so a
    zygote does it once and every shim forked from it starts warm (the cache key is the
    resolved object, which is what the engine writes into config.json)."""
    try:
        from berth.runtime import capabilities
        from berth.runtime.seccomp import compiler, profile

        if profile.available():
            caps = list(capabilities.DOCKER_DEFAULT)
            compiler.compile_bpf(profile.to_oci(profile.default_profile(), caps))
    except Exception:  # only a warm-up: a start compiles (and reports errors) for itself
        pass
