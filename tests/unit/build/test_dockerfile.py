"""The Dockerfile parser against moby's own tables: buildkit's parser testfiles
(with their `result` dumps), the heredoc, directive and instruction tests, and
dockerd's error texts."""

from __future__ import annotations

import os

import pytest

from berth.engine.build import dockerfile as dfp
from berth.engine.build.dockerfile import DockerfileError, Heredoc, Node, parse, parse_nodes
from berth.engine.build.shell import go_quote

DATA = os.path.join(os.path.dirname(__file__), "testdata")


def dump(node: Node) -> str:
    """moby's Node.Dump for one instruction."""
    out = node.cmd.lower()
    if node.raw_flags:
        out += " [" + " ".join(go_quote(f) for f in node.raw_flags) + "]"
    if node.child is not None:
        return out + " (" + dump(node.child) + ")"
    for arg in node.args:
        out += " " + go_quote(arg)
    return out.strip()


def _cases(sub: str) -> list[str]:
    return sorted(os.listdir(os.path.join(DATA, sub)))


@pytest.mark.parametrize("case", _cases("testfiles"))
def test_moby_parser_testfiles(case: str) -> None:
    with open(os.path.join(DATA, "testfiles", case, "Dockerfile"), "rb") as f:
        text = f.read()
    with open(os.path.join(DATA, "testfiles", case, "result"), encoding="utf-8") as f:
        expected = f.read()
    got = "".join("(" + dump(n) + ")\n" for n in parse_nodes(text).nodes)
    assert got == expected


@pytest.mark.parametrize("case", _cases("testfiles-negative"))
def test_moby_parser_negative_testfiles(case: str) -> None:
    with open(os.path.join(DATA, "testfiles-negative", case, "Dockerfile"), "rb") as f:
        text = f.read()
    with pytest.raises(DockerfileError):
        parse_nodes(text)


def test_negative_testfiles_messages() -> None:
    def msg(case: str) -> str:
        with open(os.path.join(DATA, "testfiles-negative", case, "Dockerfile"), "rb") as f:
            text = f.read()
        with pytest.raises(DockerfileError) as e:
            parse(text)
        return e.value.message

    # zero bytes: dockerd refuses before parsing
    assert msg("empty_dockerfile") == "the Dockerfile (Dockerfile) cannot be empty"
    assert msg("only_comments") == "failed to parse Dockerfile: file with no instructions"
    assert msg("env_no_value") == "failed to parse Dockerfile: ENV must have two arguments"
    assert msg("shykes-nested-json") == (
        "failed to parse Dockerfile: when using JSON array syntax, arrays must be comprised of strings only"
    )


def test_line_numbers() -> None:
    with open(os.path.join(DATA, "testfile-line", "Dockerfile"), "rb") as f:
        nodes = parse_nodes(f.read()).nodes
    assert [(n.start_line, n.end_line) for n in nodes] == [(5, 5), (11, 12), (17, 31)]


def test_empty_continuation_lines_warn() -> None:
    text = """
FROM alpine:3.6

RUN valid \\
    continuation

RUN something \\

    following \\

    more

RUN another \\

    thing

RUN non-indented \\
# this is a comment
   after-comment

RUN indented \\
    # this is an indented comment
    comment
\t"""
    df = parse(text)
    assert df.warnings == (
        "[WARNING]: Empty continuation line found in: RUN something     following     more",
        "[WARNING]: Empty continuation line found in: RUN another     thing",
        "[WARNING]: Empty continuation lines will become errors in a future release.",
    )
    steps = df.stages[0].instructions
    assert steps[3].args == ("non-indented    after-comment",)
    assert steps[4].args == ("indented     comment",)
    assert parse("FROM a\nRUN x \\\n  y\n").warnings == ()


def test_scanner_errors() -> None:
    label = "a" * 65536
    with pytest.raises(DockerfileError) as e:
        parse(f"\n\t\tFROM image\n\t\tLABEL test={label}\n")
    assert e.value.message == (
        "failed to parse Dockerfile: dockerfile line greater than max allowed size of 65535"
    )
    # a line just under the limit is fine
    parse("FROM image\nLABEL t=" + "a" * 60000 + "\n")


# parser_heredoc_test.go, TestParseExtractsHeredoc
HEREDOC_DOCKERFILE = """
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN "<<NOHEREDOC"

RUN <<INDENT
\tfoo
\tbar
INDENT

RUN <<-UNINDENT
\tbaz
\tquux
UNINDENT

RUN <<-UNINDENT2
\tbaz
\tquux
\tUNINDENT2

RUN <<-EXPAND
\texpand $NAME
EXPAND

RUN <<-'NOEXPAND'
\tdon't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<EOF /quotes
"foo"
'bar'
EOF

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

COPY <<file.txt /dest
hello world
file.txt

RUN <<eo'f'
echo foo
eof

RUN <<eo\\'f
echo foo
eo'f

RUN <<'e'o\\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF
EOF

RUN <<  EOF  > foo
EOF
\t"""

H = Heredoc
HEREDOC_EXPECTED: list[tuple[Heredoc, ...]] = [
    (),
    (),
    (),
    (),
    (H("EMPTY", "", True, False),),
    (H("EMPTY2", "", True, False),),
    (),
    (H("INDENT", "\tfoo\n\tbar\n", True, False),),
    (H("UNINDENT", "\tbaz\n\tquux\n", True, True),),
    (H("UNINDENT2", "\tbaz\n\tquux\n", True, True),),
    (H("EXPAND", "\texpand $NAME\n", True, True),),
    (H("NOEXPAND", "\tdon't expand $NAME\n", False, True),),
    (H("COPY", "echo hello world\necho foo bar\n", True, False),),
    (
        H(
            "COMMENT",
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
            True,
            False,
        ),
    ),
    (H("MOUNT", "echo hello\n", True, False),),
    (H("FILE1", "content 1\n", True, False), H("FILE2", "content 2\n", True, False)),
    (H("EOF", "\"foo\"\n'bar'\n", True, False),),
    (H("X", "Y\n", True, False), H("Y", "X\n", True, False)),
    (H("COMPLEX", "print('hello world')\n", True, False),),
    (H("file.txt", "hello world\n", True, False),),
    (H("eof", "echo foo\n", False, False),),
    (H("eo'f", "echo foo\n", True, False),),
    (H("eo'f", "echo foo\n", False, False),),
    (H("one two", "echo bar\n", False, False),),
    (H("$EOF", "", True, False),),
    (H("EOF", "", True, False),),
    (H("EOF", "", True, False),),
]


def test_heredocs_extracted() -> None:
    nodes = parse_nodes(HEREDOC_DOCKERFILE).nodes
    assert [n.heredocs for n in nodes[1:]] == HEREDOC_EXPECTED


def test_heredoc_in_instructions() -> None:
    df = parse("FROM a\nRUN <<-EOF\n\techo $X\n\tEOF\nCOPY <<'A' /dst\n$Y\nA\n")
    run, copy = df.stages[0].instructions
    assert run.args == ("<<-EOF",) and not run.json_form
    assert run.heredocs[0].data() == "echo $X\n"
    assert run.original == "RUN <<-EOF" and (run.line, run.end_line) == (2, 4)
    assert copy.heredocs == (H("A", "$Y\n", False, False),)
    assert dfp.parse_heredoc_word(copy.args[0]) == H("A", "", False, False)
    assert df.instruction_count == 3


def test_json_heredocs_ignored() -> None:
    nodes = parse_nodes('FROM a\nRUN ["whoami"]\nRUN ["<<EOF"]\nRUN ["<<\'EOF\'"]\n').nodes
    assert all(n.heredocs == () for n in nodes)


@pytest.mark.parametrize(
    "word",
    [
        "<<EOF",
        "<<'EOF'",
        '<<"EOF"',
        "<<-EOF",
        "<<-'EOF'",
        '<<-"EOF"',
        '<<EO"F"',
        "<< EOF",
        "<<- EOF",
    ],
)
def test_heredoc_word_valid(word: str) -> None:
    doc = dfp.parse_heredoc_word(word)
    assert doc is not None and doc.name == "EOF"


@pytest.mark.parametrize("word", ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"])
def test_heredoc_word_not_heredoc(word: str) -> None:
    assert dfp.parse_heredoc_word(word) is None


@pytest.mark.parametrize("word", ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"'])
def test_heredoc_word_invalid(word: str) -> None:
    with pytest.raises(DockerfileError):
        dfp.parse_heredoc_word(word)


@pytest.mark.parametrize(
    ("line", "names"),
    [
        ("RUN <<EOF", ["EOF"]),
        ("RUN <<-EOF", ["EOF"]),
        # the lexer splits "<<-" from "EOF" here (moby's own test passes vacuously)
        ("RUN <<- EOF", []),
        ("RUN << -EOF", ["-EOF"]),
        ("RUN <<'EOF'", ["EOF"]),
        ("RUN 4<<EOF", ["EOF"]),
        ("RUN <<EOF <<EOF2", ["EOF", "EOF2"]),
        ("RUN '<<EOF'", []),
        ('RUN "<<EOF"', []),
    ],
)
def test_heredocs_from_line(line: str, names: list[str]) -> None:
    bodies = "".join(n + "\n" for n in names)
    nodes = parse_nodes(line + "\n" + bodies).nodes
    assert [h.name for h in nodes[0].heredocs] == names


def test_unterminated_heredoc() -> None:
    with pytest.raises(DockerfileError) as e:
        parse("FROM a\nRUN <<EOF\necho\n")
    assert e.value.message == "failed to parse Dockerfile: unterminated heredoc"
    assert e.value.line == 2


# directives_test.go and the escape testfiles
@pytest.mark.parametrize(
    ("text", "escape", "syntax"),
    [
        ("# escape=`\nFROM a\n", "`", ""),
        ("#escape = ` \nFROM a\n", "`", ""),
        ("# ESCAPE=\\\nFROM a\n", "\\", ""),
        ("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n", "`", "docker/dockerfile:1"),
        # a blank line ends the directives: the escape below is a comment
        ("\n# escape=`\nFROM a\n", "\\", ""),
        # so does any comment that is not a directive
        ("# hello\n# escape=`\nFROM a\n", "\\", ""),
        ("# unknown=x\n# escape=`\nFROM a\n", "\\", ""),
        ("\ufeff# escape=`\nFROM a\n", "`", ""),
    ],
)
def test_directives(text: str, escape: str, syntax: str) -> None:
    df = parse(text)
    assert (df.escape, df.syntax) == (escape, syntax)
    assert df.warnings == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# escape=x\nFROM a\n", "invalid escape token 'x' does not match ` or \\"),
        ("# escape=`\n# escape=`\nFROM a\n", "only one escape parser directive can be used"),
        ("# syntax=a\n# syntax=b\nFROM a\n", "only one syntax parser directive can be used"),
    ],
)
def test_directive_errors(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as e:
        parse(text)
    assert e.value.message == "failed to parse Dockerfile: " + message


def test_backtick_escape_continues_lines() -> None:
    df = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  /w\nCOPY a` b c\n")
    run, copy = df.stages[0].instructions
    assert run.args == ("dir c:\\   /w",)
    assert run.original == "RUN dir c:\\   /w"
    assert copy.args == ("a`", "b", "c")


# instructions/parse_test.go, plus dockerd's wrappers
@pytest.mark.parametrize("cmd", ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"])
def test_exactly_one_argument(cmd: str) -> None:
    with pytest.raises(DockerfileError) as e:
        parse(f"FROM a\n{cmd}\n")
    assert (
        e.value.message == f"dockerfile parse error on line 2: {cmd} requires exactly one argument"
    )


@pytest.mark.parametrize(
    "cmd", ["ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME", "ARG"]
)
def test_at_least_one_argument(cmd: str) -> None:
    with pytest.raises(DockerfileError) as e:
        parse(f"FROM a\n{cmd}\n")
    assert (
        e.value.message == f"dockerfile parse error on line 2: {cmd} requires at least one argument"
    )


@pytest.mark.parametrize("cmd", ["ADD", "COPY"])
def test_no_destination(cmd: str) -> None:
    with pytest.raises(DockerfileError) as e:
        parse(f"FROM a\n{cmd} arg1\n")
    assert e.value.message == (
        f"dockerfile parse error on line 2: {cmd} requires at least two arguments, "
        "but only one was provided. Destination could not be determined"
    )


ERRORS = [
    (
        "COPY\t\n\t\tquux \\\n      bar",
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
    ),
    ("ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD maintainer me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("MAINTAINER --boo joe@example.com", "unknown flag: --boo"),
    ("ONBUILD ONBUILD RUN touch foobar", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FOO bar", "unknown instruction: FOO (did you mean FROM?)"),
    ("foo bar", "unknown instruction: foo (did you mean from?)"),
    ("BOGUS bar", "unknown instruction: BOGUS"),
    ("RUNN x", "unknown instruction: RUNN (did you mean RUN?)"),
    ("cmdd x", "unknown instruction: cmdd (did you mean cmd?)"),
    ("COPY --fom=a b c", "unknown flag: --fom (did you mean from?)"),
    ("COPY --from b c", "missing a value on flag: --from"),
    ("COPY --from=a --from=b b c", "duplicate flag specified: --from"),
    ("COPY --link=maybe b c", "expecting boolean value for flag --link, not: maybe"),
    ("COPY --link= b c", "missing a value on flag: --link"),
    ("COPY a <<EOF\nEOF", "COPY cannot accept a heredoc as a destination"),
    ("ADD --from=x a b", "unknown flag: --from"),
    ("ENV =x", "ENV names can not be blank"),
    ("LABEL =x", "LABEL names can not be blank"),
    ("ARG =x", "ARG names can not be blank"),
    ('VOLUME [""]', "VOLUME specified can not be an empty string"),
    ("SHELL /bin/sh -c", "SHELL requires the arguments to be in JSON form"),
    ("SHELL []", "SHELL requires at least one argument"),
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK CONNECT TCP 7000", 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK --interval=50ns CMD x", 'Interval "interval" cannot be less than 1ms'),
    ("HEALTHCHECK --timeout=5 CMD x", 'time: missing unit in duration "5"'),
    ("HEALTHCHECK --timeout=5x CMD x", 'time: unknown unit "x" in duration "5x"'),
    ("HEALTHCHECK --timeout=x CMD x", 'time: invalid duration "x"'),
    ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
    ("HEALTHCHECK --retries=x CMD x", 'strconv.ParseInt: parsing "x": invalid syntax'),
    (
        "HEALTHCHECK --retries=9999999999 CMD x",
        'strconv.ParseInt: parsing "9999999999": value out of range',
    ),
    ("HEALTHCHECK --foo=1 CMD x", "unknown flag: --foo"),
    ("RUN --network=bridge x", 'invalid network mode "bridge"'),
    ("RUN --nope x", "unknown flag: --nope"),
    ("CMD --x y", "unknown flag: --x"),
    ("FROM a b", "FROM requires either one or three arguments"),
    (
        "FROM a AS 1x",
        'invalid name for build stage: "1x", name can\'t start with a number or contain symbols',
    ),
    ("FROM --plaform=x a", "unknown flag: --plaform (did you mean platform?)"),
]


@pytest.mark.parametrize(("line", "message"), ERRORS)
def test_instruction_errors(line: str, message: str) -> None:
    with pytest.raises(DockerfileError) as e:
        parse("FROM scratch\n" + line + "\n")
    assert e.value.message == "dockerfile parse error on line 2: " + message
    assert e.value.line == 2


def test_parser_level_errors() -> None:
    for text, message in [
        ("FROM a\nENV foo\n", "ENV must have two arguments"),
        ("FROM a\nLABEL foo\n", "LABEL must have two arguments"),
        (
            "FROM a\nENV a=b c\n",
            'Syntax error - can\'t find = in "c". Must be of the form: name=value',
        ),
        (
            'FROM a\nCMD ["a", 1]\n',
            "when using JSON array syntax, arrays must be comprised of strings only",
        ),
    ]:
        with pytest.raises(DockerfileError) as e:
            parse(text)
        assert e.value.message == "failed to parse Dockerfile: " + message
    with pytest.raises(DockerfileError) as e:
        parse("ENV foo\n", name="sub/Dockerfile.dev")
    assert e.value.message == "failed to parse sub/Dockerfile.dev: ENV must have two arguments"


def test_structure_errors() -> None:
    with pytest.raises(DockerfileError) as e:
        parse("")
    assert e.value.message == "the Dockerfile (Dockerfile) cannot be empty"
    with pytest.raises(DockerfileError) as e:
        parse(b"ARG a\nRUN x\n")
    assert e.value.message == "no build stage in current context"
    with pytest.raises(DockerfileError) as e:
        parse("# just\n\n# comments\n")
    assert e.value.message == "failed to parse Dockerfile: file with no instructions"


def test_stages_and_counts() -> None:
    df = parse(
        "ARG V=1\nARG B\nfrom --platform=$P busybox:$V AS Build\nRUN echo\n"
        "FROM build\nCOPY --from=build --chown=1:1 /a /b\nARG X\n"
    )
    assert [m.args for m in df.meta_args] == [("V=1",), ("B",)]
    first, second = df.stages
    assert (first.name, first.base, first.platform) == ("build", "busybox:$V", "$P")
    assert first.from_instruction.original == "from --platform=$P busybox:$V AS Build"
    assert first.from_instruction.cmd == "from"
    assert second.name == "" and second.base == "build"
    copy = second.instructions[0]
    assert copy.flags == (("from", "build"), ("chown", "1:1"))
    assert copy.args == ("/a", "/b")
    # the classic builder's "Step N/M" counts every instruction, meta ARGs too
    assert df.instruction_count == 7


def test_forms() -> None:
    df = parse(
        "FROM a\n"
        'CMD ["a", "b"]\n'
        "CMD a  b\n"
        'ENTRYPOINT ["x"] y\n'
        "RUN []\n"
        'SHELL ["/bin/bash", "-c"]\n'
        "EXPOSE 80  443/udp\n"
        'VOLUME ["/a", "/b"]\n'
        "VOLUME /c /d\n"
        'COPY --chmod=755 "a b" c\n'
        "USER  me  too \n"
        "stopsignal SIGKILL\n"
        "COPY --link a b\n"
        "RUN --mount=type=cache,target=/x --mount=type=tmpfs,target=/y make\n"
    )
    got = [(i.cmd, i.args, i.json_form) for i in df.stages[0].instructions]
    assert got == [
        ("cmd", ("a", "b"), True),
        ("cmd", ("a  b",), False),
        ("entrypoint", ('["x"] y',), False),
        ("run", (), True),
        ("shell", ("/bin/bash", "-c"), True),
        ("expose", ("80", "443/udp"), False),
        ("volume", ("/a", "/b"), True),
        ("volume", ("/c", "/d"), False),
        ("copy", ('"a', 'b"', "c"), False),
        ("user", ("me  too",), False),
        ("stopsignal", ("SIGKILL",), False),
        ("copy", ("a", "b"), False),
        ("run", ("make",), False),
    ]
    insts = df.stages[0].instructions
    assert insts[11].flags == (("link", "true"),)
    assert insts[12].flag_values("mount") == ["type=cache,target=/x", "type=tmpfs,target=/y"]
    assert insts[8].flag("chmod") == "755"


def test_onbuild() -> None:
    df = parse("FROM a\nonbuild  RUN echo $X \nONBUILD ADD <<EOF /x\nhi\nEOF\n")
    first, second = df.stages[0].instructions
    assert first.cmd == "onbuild" and first.args == ("RUN echo $X ",)
    assert first.original == "onbuild  RUN echo $X"
    assert second.args == ("ADD <<EOF /x\nhi\nEOF",)


def test_flags_quotes_and_terminator() -> None:
    df = parse('FROM a\nCOPY --chown="a b" -- --x y\nRUN --network=none -- --flag\n')
    copy, run = df.stages[0].instructions
    assert copy.flags == (("chown", "a b"),) and copy.args == ("--x", "y")
    assert copy.raw_flags == ("--chown=a b",)
    assert run.flags == (("network", "none"),) and run.args == ("--flag",)


def test_arg_and_stopsignal_ignore_flags() -> None:
    # moby never calls flags.Parse for these
    df = parse("ARG --x=1 a\nFROM b\nSTOPSIGNAL --y 9\n")
    assert df.meta_args[0].flags == (("x", "1"),)
    assert df.stages[0].instructions[0].args == ("9",)


KEY_VALUES = [
    ("ENV name value", [("name", "value")]),
    ("ENV name  value  with spaces ", [("name", "value  with spaces")]),
    ("ENV name=value", [("name", "value")]),
    ("ENV name=value name2=value2", [("name", "value"), ("name2", "value2")]),
    ('ENV name="value value1"', [("name", '"value value1"')]),
    ("ENV name=value\\ value2", [("name", "value\\ value2")]),
    ("ENV name='a\\'b''", [("name", "'a\\'b''")]),
    ('ENV a= b=""', [("a", ""), ("b", '""')]),
    ('LABEL "com.x"="y z" v=1', [('"com.x"', '"y z"'), ("v", "1")]),
]


@pytest.mark.parametrize(("line", "pairs"), KEY_VALUES)
def test_parse_key_values(line: str, pairs: list[tuple[str, str]]) -> None:
    inst = parse("FROM a\n" + line + "\n").stages[0].instructions[0]
    assert dfp.parse_key_values(inst) == pairs


def test_parse_key_values_errors() -> None:
    inst = dfp.Instruction("env", ("", "x", "="), False, (), "ENV =x", 3)
    with pytest.raises(DockerfileError) as e:
        dfp.parse_key_values(inst)
    assert e.value.message == "ENV names can not be blank"
    inst = dfp.Instruction("label", ("a", "b"), False, (), "LABEL a b", 3)
    with pytest.raises(DockerfileError) as e:
        dfp.parse_key_values(inst)
    assert e.value.message == "Bad input to LABEL, too many arguments"


def test_parse_arg() -> None:
    insts = parse('FROM a\nARG x\nARG y=1\nARG z=\nARG q="a b"\nARG m n=2\n').stages[0].instructions
    assert [dfp.parse_arg(i) for i in insts[:4]] == [
        ("x", None),
        ("y", "1"),
        ("z", ""),
        ("q", '"a b"'),
    ]
    assert dfp.parse_args(insts[4]) == [("m", None), ("n", "2")]
    with pytest.raises(ValueError):
        dfp.parse_arg(insts[4])


def test_parse_healthcheck() -> None:
    insts = (
        parse(
            "FROM a\n"
            "HEALTHCHECK NONE\n"
            "HEALTHCHECK --interval=5s --timeout=3s --retries=3 CMD /app/check.sh --quiet\n"
            'HEALTHCHECK --start-period=1m30s --start-interval=1.5ms cmd ["a", "b"]\n'
            "HEALTHCHECK --interval=0s CMD x\n"
        )
        .stages[0]
        .instructions
    )
    assert dfp.parse_healthcheck(insts[0]) == {"Test": ["NONE"]}
    assert dfp.parse_healthcheck(insts[1]) == {
        "Test": ["CMD-SHELL", "/app/check.sh --quiet"],
        "Interval": 5_000_000_000,
        "Timeout": 3_000_000_000,
        "StartPeriod": 0,
        "StartInterval": 0,
        "Retries": 3,
    }
    hc = dfp.parse_healthcheck(insts[2])
    assert hc is not None
    assert hc["Test"] == ["CMD", "a", "b"]
    assert hc["StartPeriod"] == 90_000_000_000 and hc["StartInterval"] == 1_500_000
    hc = dfp.parse_healthcheck(insts[3])
    assert hc is not None and hc["Interval"] == 0


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("5s", 5_000_000_000),
        ("1h2m3.5s", 3_723_500_000_000),
        ("-1.5h", -5_400_000_000_000),
        (".5ms", 500_000),
        ("1us", 1000),
        ("1\u00b5s", 1000),
        ("300ms", 300_000_000),
        ("2562047h47m16.854775807s", (1 << 63) - 1),
    ],
)
def test_go_parse_duration(text: str, ns: int) -> None:
    assert dfp.go_parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "s", ".s", "1", "1.", "--1s", "2562048h", "1e3s"])
def test_go_parse_duration_invalid(text: str) -> None:
    with pytest.raises(dfp.Invalid):
        dfp.go_parse_duration(text)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("foo", ["foo"]),
        ("foo bar", ["foo", "bar"]),
        ("foo\\ bar", ["foo\\ bar"]),
        ("foo=bar", ["foo=bar"]),
        ("foo bar 'abc xyz'", ["foo", "bar", "'abc xyz'"]),
        ('foo bar "abc xyz"', ["foo", "bar", '"abc xyz"']),
        ("àöû", ["àöû"]),
        ('föo bàr "âbc xÿz"', ["föo", "bàr", '"âbc xÿz"']),
    ],
)
def test_parse_words(words: str, expected: list[str]) -> None:
    assert dfp.parse_words(words) == expected
