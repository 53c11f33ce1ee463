""".dockerignore reading and matching, against moby/patternmatcher's tables
(TestMatches, Go's filepath Match tests, TestCompile, ReadAll)."""

from __future__ import annotations

import pytest

from berth import dockerignore
from berth.dockerignore import Matcher, go_clean, go_match, read


def test_read_all() -> None:
    content = (
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    )
    assert read(content) == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "!",
        "!",
    ]
    assert read("") == []


def test_read_cleans_and_strips() -> None:
    text = "\ufeff  a/./b//c/  \r\n  # not a comment once indented\n#x\n/\n//x\n!../y\r\n"
    assert read(text) == ["a/b/c", "# not a comment once indented", "/", "x", "!../y"]


# TestMatches: each pattern alone, matched with its parent directories' results
MATCHES = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    ("**", "/", True),
    ("**/", "/", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**", "dir/file/", True),
    ("**/", "dir/file/", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        True,
    ),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
]

MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (
        ["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        False,
    ),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    # the simple tests of patternmatcher_test.go
    (["*"], "fileutils.go", True),
    (["*.go"], "fileutils.go", True),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["*.go"], ".", False),
    ([], "/any/path/there", False),
    # a parent directory excludes what is under it
    (["node_modules"], "node_modules/a/b.js", True),
    (["a/b"], "a/b/c/d", True),
    (["a/b"], "a/bc", False),
    (["*/tmp"], "x/tmp/y", True),
    (["*", "!keep"], "keep", False),
    (["*", "!keep"], "other", True),
    # walk order: the exception was skipped at "a", so it never re-includes a/c
    (["a/c", "!a"], "a/c", True),
]


def _parent_chain(m: Matcher, text: str) -> bool:
    # MatchesUsingParentResults, threading each parent directory's result down
    parts = go_clean(text).split("/")
    info = None
    for k in range(1, len(parts)):
        _, info = m.match_info("/".join(parts[:k]), info)
    return m.match_info(go_clean(text), info)[0]


@pytest.mark.parametrize(("pattern", "text", "expected"), MATCHES)
def test_matches(pattern: str, text: str, expected: bool) -> None:
    m = Matcher([pattern])
    assert m.matches(text) is expected
    assert _parent_chain(m, text) is expected
    # without parent results, every parent is tried (MatchesOrParentMatches)
    assert m.match_info(go_clean(text), None)[0] is expected


@pytest.mark.parametrize(("patterns", "text", "expected"), MULTI)
def test_matches_multi(patterns: list[str], text: str, expected: bool) -> None:
    assert Matcher(patterns).matches(text) is expected


# Go's filepath.Match tests, as patternmatcher_test.go copies them
GO_MATCH = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", False),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("*x", "xxx", True),
]
GO_BAD = ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "*[", "a*[]"]


@pytest.mark.parametrize(("pattern", "name", "expected"), GO_MATCH)
def test_go_match_table(pattern: str, name: str, expected: bool) -> None:
    assert go_match(pattern, name) is expected


@pytest.mark.parametrize(("pattern", "name", "expected"), GO_MATCH)
def test_matcher_follows_go_match(pattern: str, name: str, expected: bool) -> None:
    # patternmatcher's TestMatch; "a*" vs "ab/c" differs: the parent "ab" matches
    want = True if (pattern, name) == ("a*", "ab/c") else expected
    assert Matcher([pattern]).matches(name) is want


@pytest.mark.parametrize("pattern", GO_BAD)
def test_bad_patterns(pattern: str) -> None:
    with pytest.raises(ValueError, match="^syntax error in pattern$"):
        go_match(pattern, "a")
    with pytest.raises(ValueError, match="^syntax error in pattern$"):
        Matcher([pattern])


def test_single_exclamation() -> None:
    with pytest.raises(ValueError) as e:
        Matcher(["!"])
    assert str(e.value) == 'illegal exclusion pattern: "!"'


def test_regexp_failure_is_bad_pattern() -> None:
    # passes filepath.Match's check, then fails as a regexp (moby issue 52203)
    with pytest.raises(ValueError, match="^syntax error in pattern$"):
        Matcher(["[Local-Only]/"])


COMPILE = [
    ("*", "regexp", "^[^/]*$"),
    ("file*", "regexp", "^file[^/]*$"),
    ("*file", "regexp", "^[^/]*file$"),
    ("a*/b", "regexp", "^a[^/]*/b$"),
    ("**", "suffix", None),
    ("**/**", "regexp", "^(.*/)?.*$"),
    ("dir/**", "prefix", None),
    ("**/dir", "suffix", None),
    ("**/dir2/*", "regexp", "^(.*/)?dir2/[^/]*$"),
    ("**/dir2/**", "regexp", "^(.*/)?dir2/.*$"),
    ("**file", "suffix", None),
    ("**/file*txt", "regexp", "^(.*/)?file[^/]*txt$"),
    ("**/**/*.txt", "regexp", "^(.*/)?(.*/)?[^/]*\\.txt$"),
    ("a[b-d]e", "regexp", "^a[b-d]e$"),
    (".*", "regexp", "^\\.[^/]*$"),
    ("abc.def", "exact", None),
    ("abc?def", "regexp", "^abc[^/]def$"),
    ("**/foo/bar", "suffix", None),
    ("a(b)c/def", "exact", None),
    ("a.|)$(}+{bc", "exact", None),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact", None),
]


@pytest.mark.parametrize(("pattern", "kind", "regexp"), COMPILE)
def test_compile(pattern: str, kind: str, regexp: str | None) -> None:
    p = dockerignore.Pattern(go_clean(pattern), False)
    assert p.kind == kind
    assert (p.regexp.pattern if p.regexp else None) == regexp


def test_exclusion_flags() -> None:
    assert Matcher(["docs", "  !docs/README.md"]).exclusions
    assert Matcher(["docs", "!docs/README.md  "]).exclusions
    assert not Matcher(["docs", "config", ""]).exclusions
    assert len(Matcher(["docs", "config", ""]).patterns) == 2


@pytest.mark.parametrize(
    ("patterns", "path", "skip"),
    [
        (["vendor"], "vendor", True),
        (["vendor"], "src", False),
        (["vendor", "!vendor/keep"], "vendor", False),
        (["vendor", "!vendorx"], "vendor", True),
        (["a", "!a/b/c"], "a/b", False),
        (["a", "!a/b/c"], "a/x", True),
        # go-archive looks at the exception's text only: wildcards don't count
        (["a", "!**/keep"], "a", True),
        (["*", "!src"], "src", False),
    ],
)
def test_excludes_dir_fully(patterns: list[str], path: str, skip: bool) -> None:
    assert Matcher(patterns).excludes_dir_fully(path) is skip


def test_go_clean() -> None:
    cases = {
        "": ".",
        "a/../..": "..",
        "/../a": "/a",
        "a//b/./c/": "a/b/c",
        "./": ".",
        "/": "/",
        "../../x/..": "../..",
    }
    assert {k: go_clean(k) for k in cases} == cases
