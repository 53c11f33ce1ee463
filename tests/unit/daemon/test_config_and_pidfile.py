import os
import subprocess
import sys
from pathlib import Path

import pytest

from berth.daemon import listeners
from berth.daemon.config import ConfigError, load
from berth.daemon.pidfile import Pidfile, PidfileError


def test_defaults_and_flags(tmp_path: Path) -> None:
    cfg, _ = load(["--config-file", str(_write(tmp_path, "{}")), "--group", "g"])
    assert cfg.hosts == ["unix:///var/run/berth.sock"] and cfg.group == "g"


def test_config_file_keys_and_conflicts(tmp_path: Path) -> None:
    f = _write(tmp_path, '{"data-root": "/x", "debug": true}')
    cfg, _ = load(["--config-file", str(f)])
    assert cfg.data_root == "/x" and cfg.debug
    with pytest.raises(ConfigError, match="both as a flag and in the configuration file"):
        load(["--config-file", str(f), "--data-root", "/y"])
    with pytest.raises(ConfigError, match="don't match any configuration option"):
        load(["--config-file", str(_write(tmp_path, '{"nope": 1}'))])
    with pytest.raises(ConfigError, match="invalid JSON"):
        load(["--config-file", str(_write(tmp_path, "{"))])


def test_non_loopback_tcp_without_tls_is_refused(tmp_path: Path) -> None:
    cfg, _ = load(["--config-file", str(_write(tmp_path, "{}")), "-H", "tcp://0.0.0.0:2375"])
    with pytest.raises(ConfigError, match="without TLS"):
        listeners.check(cfg)
    cfg.hosts = ["tcp://127.0.0.1:2375", "tcp://[::1]:2376"]
    listeners.check(cfg)


def test_pidfile_excludes_a_second_holder(tmp_path: Path) -> None:
    path = str(tmp_path / "b.pid")
    first = Pidfile(path)
    first.acquire()
    assert Path(path).read_text().strip() == str(os.getpid())
    # Another process cannot take it while this one lives.
    code = (
        "import sys; from berth.daemon.pidfile import Pidfile, PidfileError\n"
        f"p = Pidfile({path!r})\n"
        "try:\n    p.acquire()\nexcept PidfileError:\n    sys.exit(3)\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 3
    first.release()
    assert not Path(path).exists()
    # A stale file (no lock holder) does not block.
    Path(path).write_text("999999\n")
    second = Pidfile(path)
    second.acquire()
    second.release()
    with pytest.raises(PidfileError):
        a, b = Pidfile(path), Pidfile(path)
        a.acquire()
        try:
            b.acquire()
        finally:
            a.release()


def _write(d: Path, text: str) -> Path:
    p = d / f"daemon-{abs(hash(text))}.json"
    p.write_text(text)
    return p
