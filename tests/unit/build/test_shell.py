"""Variable expansion against buildkit's lexer tables (envVarTest, wordsTest,
TestProcessWithMatches, the mandatory-variable and pattern tests)."""

from __future__ import annotations

import os

import pytest

from berth.engine.build import shell
from berth.engine.build.shell import ExpansionError, Lexer, expand, expand_words
from berth.engine.build.shell.errors import Fail
from berth.engine.build.shell.patterns import reverse_pattern

DATA = os.path.join(os.path.dirname(__file__), "testdata")


def _env_var_cases() -> list[tuple[int, str, str]]:
    cases = []
    with open(os.path.join(DATA, "envVarTest"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            platform, source, expected = (p.strip() for p in line.strip().split("|"))
            assert platform in ("A", "U", "W")
            if platform != "W":
                cases.append((n, source, expected))
    return cases


ENV_VAR_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


@pytest.mark.parametrize(("n", "source", "expected"), _env_var_cases())
def test_env_var_table(n: int, source: str, expected: str) -> None:
    if expected == "error":
        with pytest.raises(ExpansionError):
            expand(source, ENV_VAR_ENV)
    else:
        assert expand(source, ENV_VAR_ENV) == expected, f"envVarTest line {n}"


def _words_cases() -> list[tuple[int, str, dict[str, str], list[str]]]:
    cases = []
    env: dict[str, str] = {}
    with open(os.path.join(DATA, "wordsTest"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            if line.startswith("ENV "):
                k, _, v = line[3:].lstrip(" ").partition("=")
                env = {**env, k: v}
                continue
            test, expected = line.split("|")
            cases.append((n, test.strip(), env, expected.lstrip(" ").split(",")))
    return cases


@pytest.mark.parametrize(("n", "source", "env", "expected"), _words_cases())
def test_words_table(n: int, source: str, env: dict[str, str], expected: list[str]) -> None:
    try:
        got = expand_words(source, env)
    except ExpansionError:
        got = ["error"]
    assert got == expected, f"wordsTest line {n}"


MATCHES: list[tuple[str, dict[str, str], str | None, set[str], set[str]]] = [
    ("x", {"DUMMY": "dummy"}, "x", set(), set()),
    ("x ${UNUSED}", {"DUMMY": "dummy"}, "x ", set(), {"UNUSED"}),
    ("x ${FOO}", {"FOO": "y"}, "x y", {"FOO"}, set()),
    (
        "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
        {"FOO": "xxx", "BAR": ""},
        "xxx  ccc",
        {"FOO", "BAR"},
        {"BAZ"},
    ),
    (
        "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
        {"FOO": "xxx", "BAR": ""},
        "xxx bbb ccc",
        {"FOO", "BAR"},
        {"BAZ"},
    ),
    ("${FOO:-}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}, set()),
    ("${FOO:-}", {}, "", set(), {"FOO"}),
    (
        "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
        {"FOO": "xxx", "BAR": ""},
        "aaa bbb ",
        {"FOO", "BAR"},
        {"BAZ"},
    ),
    (
        "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
        {"FOO": "xxx", "BAR": ""},
        "aaa  ",
        {"FOO", "BAR"},
        {"BAZ"},
    ),
    ("${FOO?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}, set()),
    ("${BAR?bbb}", {"FOO": "xxx", "BAR": ""}, "", {"BAR"}, set()),
    ("${BAZ?ccc}", {"FOO": "xxx", "BAR": ""}, None, set(), set()),
    ("${FOO:?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}, set()),
    ("${BAR:?bbb}", {"FOO": "xxx", "BAR": ""}, None, set(), set()),
    ("${BAZ:?ccc}", {"FOO": "xxx", "BAR": ""}, None, set(), set()),
    ("${BAZ:?}", {"FOO": "xxx", "BAR": ""}, None, set(), set()),
    ("${FOO=aaa}", {"FOO": "xxx", "BAR": ""}, None, set(), set()),
    ("${FOO=:aaa}", {"FOO": "xxx", "BAR": ""}, None, set(), set()),
    ("${FOO=}", {}, None, set(), set()),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x", {"FOO"}, set()),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx", {"FOO"}, set()),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y", {"FOO"}, set()),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy", {"FOO", "BAR"}, set()),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}, set()),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy", {"FOO"}, set()),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y", {"FOO"}, set()),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy.", {"FOO"}, {"ABC"}),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a", {"FOO"}, set()),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}, set()),
    ("${FOO:#}", {}, None, set(), set()),
    ("${FOO:##}", {}, None, set(), set()),
    ("${FOO:%}", {}, None, set(), set()),
    ("${FOO:%%}", {}, None, set(), set()),
    (
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
        "/foo.*/*.txt - /foo..*.txt",
        {"FOO", "NEEDLE"},
        set(),
    ),
    (
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
        "/tmp/bar.txt - /bar.txt",
        {"FOO", "NEEDLE"},
        set(),
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
        "/foo/b/c.txt - /foo/c.txt",
        {"FOO", "NEEDLE", "REPLACEMENT"},
        set(),
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT}",
        {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
        "https://google.de",
        {"FOO", "NEEDLE", "REPLACEMENT"},
        set(),
    ),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt", {"FOO"}, set()),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy", {"FOO", "BAR"}, set()),
    ("${FOO//ww}", {"FOO": "xxyy"}, None, set(), set()),
    ("${FOO//}", {"FOO": "xxyy"}, None, set(), set()),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO///}", {}, "", set(), {"FOO"}),
]


@pytest.mark.parametrize(("word", "env", "expected", "matched", "unmatched"), MATCHES)
def test_process_with_matches(
    word: str, env: dict[str, str], expected: str | None, matched: set[str], unmatched: set[str]
) -> None:
    if expected is None:
        with pytest.raises(ExpansionError):
            Lexer().process(word, env)
        return
    result = Lexer().process(word, env)
    assert (result.value, result.matched, result.unmatched) == (expected, matched, unmatched)


def test_platform_release_names() -> None:
    release = (
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz"
    )
    env = {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "v7"}
    assert expand(release, env) == "something-v1.2.3.linux-arm-v7.tar.gz"
    env = {**env, "TARGETARCH": "arm64", "TARGETVARIANT": ""}
    assert expand(release, env) == "something-v1.2.3.linux-arm64.tar.gz"
    del env["TARGETVARIANT"]
    assert expand(release, env) == "something-v1.2.3.linux-arm64.tar.gz"


def test_mandatory_variables() -> None:
    no_empty = "${VAR:?message here$ARG}"
    no_unset = "${VAR?message here$ARG}"
    assert expand(no_empty, {"VAR": "plain", "ARG": "x"}) == "plain"
    assert expand(no_unset, {"VAR": "", "ARG": "x"}) == ""
    for word, env in [
        (no_empty, {"VAR": "", "ARG": "x"}),
        (no_empty, {"ARG": "x"}),
        (no_unset, {"ARG": "x"}),
    ]:
        with pytest.raises(ExpansionError) as e:
            expand(word, env)
        assert e.value.message == f'failed to process "{word}": VAR: message herex'


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("${X:?}", 'failed to process "${X:?}": X: is not allowed to be unset'),
        ("${X?}", 'failed to process "${X?}": X: is not allowed to be unset'),
        ("${E:?}", 'failed to process "${E:?}": E: is not allowed to be empty'),
        ("a${}", 'failed to process "a${}": syntax error: bad substitution'),
        ("${X", 'failed to process "${X": unsupported modifier (\ufffd) in substitution'),
        ("${", "failed to process \"${\": syntax error: missing '}'"),
        ("${X:-a", "failed to process \"${X:-a\": syntax error: missing '}'"),
        ("${X:=a}", 'failed to process "${X:=a}": unsupported modifier (:=) in substitution'),
        (
            "'a",
            'failed to process "\'a": unexpected end of statement while looking for matching single-quote',
        ),
        (
            '"a',
            'failed to process "\\"a": unexpected end of statement while looking for matching double-quote',
        ),
        (
            "${X#\\x}",
            "failed to process \"${X#\\\\x}\": invalid pattern (\\x) in substitution: invalid escape '\\x'",
        ),
    ],
)
def test_error_texts(word: str, message: str) -> None:
    with pytest.raises(ExpansionError) as e:
        expand(word, {"E": "", "X": "v"} if "#" in word else {"E": ""})
    assert e.value.message == message


def test_backtick_escape() -> None:
    env = {"A": "1"}
    assert expand("`$A$A", env, "`") == "$A1"
    assert expand("c:\\dir\\$A", env, "`") == "c:\\dir\\1"
    assert expand('"a`"b"', env, "`") == 'a"b'
    assert expand_words("a` b c", env, "`") == ["a b", "c"]


def test_expose_words() -> None:
    assert expand_words("$PORTS", {"PORTS": "80 443/udp"}) == ["80", "443/udp"]
    assert expand("$PORTS", {"PORTS": "80 443/udp"}) == "80 443/udp"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*", "^.*"),
        ("?", "^."),
        ("\\*", "^\\*"),
        ("(()[]{\\}^$.\\*\\?|\\\\", "^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\"),
    ],
)
def test_shell_pattern_to_regex(pattern: str, expected: str) -> None:
    assert shell.shell_pattern_to_regex(pattern, True, True).pattern == expected


@pytest.mark.parametrize("pattern", ["\\", "\\x", "\\\\\\"])
def test_shell_pattern_invalid(pattern: str) -> None:
    with pytest.raises(Fail):
        shell.shell_pattern_to_regex(pattern, True, True)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("a\\*c", "c\\*a"),
        ("\\\\\\ab", "b\\a\\\\"),
        ("ab\\", "\\ba"),
        ("👽\\🚀🖖", "🖖\\🚀👽"),
        ("\\\\b", "b\\\\"),
    ],
)
def test_reverse_pattern(pattern: str, expected: str) -> None:
    assert reverse_pattern(pattern) == expected


def test_skip_unset_raw_lexer() -> None:
    # the parser's heredoc lexer keeps quotes, escapes and unknown variables
    lex = Lexer(raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    assert lex.process_words("RUN <<'EOF' $X ${Y:-z} a\\ b", {}) == [
        "RUN",
        "<<'EOF'",
        "$X",
        "${Y:-z}",
        "a\\ b",
    ]


def test_go_quote() -> None:
    assert shell.go_quote('a"b\\c\n\x01é') == '"a\\"b\\\\c\\n\\x01é"'


def test_expanded_set() -> None:
    assert shell.EXPANDED == {
        "add", "arg", "copy", "env", "expose", "from", "label", "stopsignal", "user", "volume", "workdir",
    }  # fmt: skip
    assert "run" not in shell.EXPANDED and "onbuild" not in shell.EXPANDED
