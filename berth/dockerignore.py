""".dockerignore, as moby reads and matches it (`patternmatcher/ignorefile.ReadAll`
and `patternmatcher`): the client uses it to leave files out of the build
context, the daemon to drop the Dockerfile and .dockerignore themselves.

Matching follows the walk docker does when it tars the context (go-archive's
TarWithOptions): a path's result builds on its parent directories' results
(`MatchesUsingParentResults`), so a pattern matching a parent directory
excludes what is below it unless a later `!` pattern re-includes it.

Standard library only: both the client and the engine import it.
"""

from __future__ import annotations

import re

BAD_PATTERN = "syntax error in pattern"


def go_clean(path: str) -> str:
    """Go's path.Clean (filepath.Clean on Unix)."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = "/".join(parts)
    if rooted:
        return "/" + out
    return out or "."


def read(text: str) -> list[str]:
    """ignorefile.ReadAll: the patterns of a .dockerignore file's text."""
    out: list[str] = []
    for n, line in enumerate(text.split("\n")):
        if n == 0:
            line = line.removeprefix("\ufeff")
        # bufio.ScanLines drops a \r before the \n
        line = line.removesuffix("\r")
        if line.startswith("#"):
            continue
        pattern = _go_trim_space(line)
        if pattern == "":
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = _go_trim_space(pattern[1:])
        if pattern:
            pattern = go_clean(pattern)
            # "/a" and "a" both mean a at the root of the context
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        if invert:
            pattern = "!" + pattern
        out.append(pattern)
    return out


def _go_trim_space(s: str) -> str:
    # strings.TrimSpace: Unicode White_Space, which Python's strip() widens
    # with \x1c-\x1f
    i, j = 0, len(s)
    while i < j and s[i].isspace() and s[i] not in "\x1c\x1d\x1e\x1f":
        i += 1
    while j > i and s[j - 1].isspace() and s[j - 1] not in "\x1c\x1d\x1e\x1f":
        j -= 1
    return s[i:j]


def go_match(pattern: str, name: str) -> bool:
    """Go's path.Match (filepath.Match on Unix).

    Raises:
        ValueError: "syntax error in pattern", also for a bad pattern that does
            not get as far as failing on this name.
    """
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and chunk == "":
            # a trailing * matches the rest unless it has a /
            return "/" not in name
        t, ok = _match_chunk(chunk, name)
        # the last chunk must use up the name, else the star may still help
        if ok and (t == "" or pattern):
            name = t
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != "/":
                t, ok = _match_chunk(chunk, name[i + 1 :])
                if ok and not (pattern == "" and t != ""):
                    name = t
                    found = True
                    break
                i += 1
            if found:
                continue
        _validate_rest(pattern)
        return False
    return name == ""


def _validate_rest(pattern: str) -> None:
    # Go checks the remainder of the pattern before answering "no match"
    while pattern:
        _, chunk, pattern = _scan_chunk(pattern)
        _match_chunk(chunk, "")


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: str) -> tuple[str, str]:
    if chunk == "" or chunk[0] in "-]":
        raise ValueError(BAD_PATTERN)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if chunk == "":
            raise ValueError(BAD_PATTERN)
    r, chunk = chunk[0], chunk[1:]
    if chunk == "":
        raise ValueError(BAD_PATTERN)
    return r, chunk


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    # after a mismatch the chunk is still scanned to the end, as Go does, so
    # that a malformed pattern is reported whatever the name
    failed = False
    while chunk:
        if not failed and s == "":
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched = False
            n_range = 0
            while True:
                if chunk.startswith("]") and n_range > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk.startswith("-"):
                    hi, chunk = _get_esc(chunk[1:])
                if lo <= r <= hi:
                    matched = True
                n_range += 1
            if matched == negated:
                failed = True
        elif c == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        elif c == "\\":
            chunk = chunk[1:]
            if chunk == "":
                raise ValueError(BAD_PATTERN)
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    if failed:
        return "", False
    return s, True


_EXACT, _PREFIX, _SUFFIX, _REGEXP = "exact", "prefix", "suffix", "regexp"
# regexp specials that mean nothing to filepath.Match
_ESCAPE = set(".+()|{}$")


class Pattern:
    def __init__(self, text: str, exclusion: bool) -> None:
        self.text = text  # cleaned, without the "!"
        self.exclusion = exclusion
        self.kind, self.regexp = _compile(text)

    def __repr__(self) -> str:
        return ("!" if self.exclusion else "") + self.text

    def match(self, path: str) -> bool:
        if self.kind == _EXACT:
            return path == self.text
        if self.kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == _SUFFIX:
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            # "**/foo" matches "foo" itself
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regexp is not None
        return self.regexp.match(path) is not None


def _compile(pattern: str) -> tuple[str, re.Pattern[str] | None]:
    """patternmatcher's compile: the cheapest matcher that does the job."""
    reg = "^"
    kind = _EXACT
    i = 0
    n = len(pattern)
    first = True
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                # "**/" is "**"
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    # a trailing "**" accepts everything below, as .gitignore
                    if kind == _EXACT:
                        kind = _PREFIX
                    else:
                        reg += ".*"
                        kind = _REGEXP
                else:
                    # any number of directories, none included
                    reg += "(.*/)?"
                    kind = _REGEXP
                if first:
                    kind = _SUFFIX
            else:
                reg += "[^/]*"
                kind = _REGEXP
        elif ch == "?":
            reg += "[^/]"
            kind = _REGEXP
        elif ch in _ESCAPE:
            reg += "\\" + ch
        elif ch == "\\":
            if i < n:
                reg += "\\" + pattern[i]
                i += 1
                kind = _REGEXP
            else:
                reg += "\\\\"
        elif ch in "[]":
            reg += ch
            kind = _REGEXP
        else:
            reg += ch
        first = False
    if kind != _REGEXP:
        return kind, None
    try:
        return kind, re.compile(_go_to_python_regex(reg + "$"), re.DOTALL)
    except re.error:
        raise ValueError(BAD_PATTERN) from None


def _go_to_python_regex(reg: str) -> str:
    # the regex is Go RE2 syntax; the one construct Python reads differently
    # is a "[" inside a bracket expression (a literal in Go, a nested set
    # warning in Python) and "&&", "--", "||", "~~" runs in one
    out = []
    in_class = False
    i = 0
    while i < len(reg):
        c = reg[i]
        if c == "\\" and i + 1 < len(reg):
            out.append(reg[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]" and out[-1] not in ("[", "[^"):
                in_class = False
            elif c in "[&~|" or (c == "-" and reg[i + 1 : i + 2] == "-"):
                out.append("\\" + c)
                i += 1
                continue
        elif c == "[":
            in_class = True
            if reg[i + 1 : i + 2] == "^":
                out.append("[^")
                i += 2
                continue
        out.append(c)
        i += 1
    return "".join(out)


class Matcher:
    """moby's PatternMatcher over a .dockerignore's patterns.

    Raises:
        ValueError: 'illegal exclusion pattern: "!"' or "syntax error in
            pattern" (Go's texts) for a bad pattern.
    """

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[Pattern] = []
        for p in patterns:
            p = _go_trim_space(p)
            if p == "":
                continue
            p = go_clean(p)
            exclusion = p.startswith("!")
            if exclusion:
                if len(p) == 1:
                    raise ValueError('illegal exclusion pattern: "!"')
                p = p[1:]
            go_match(p, ".")
            self.patterns.append(Pattern(p, exclusion))
        self.exclusions = any(p.exclusion for p in self.patterns)
        self._dirs: dict[str, list[bool]] = {}

    def match_info(self, path: str, parent: list[bool] | None) -> tuple[bool, list[bool]]:
        """MatchesUsingParentResults: whether `path` is excluded, and what its
        children need to know (per pattern, whether it matched here)."""
        matched = False
        info = [False] * len(self.patterns)
        for i, pattern in enumerate(self.patterns):
            match = parent[i] if parent else False
            if not match:
                # an inclusion needs evaluating only while not yet excluded,
                # an exception only once excluded
                if pattern.exclusion != matched:
                    continue
                match = pattern.match(path)
                if not match and not parent:
                    parts = path.split("/")[:-1]
                    for k in range(1, len(parts) + 1):
                        if pattern.match("/".join(parts[:k])):
                            match = True
                            break
            info[i] = match
            if match:
                matched = not pattern.exclusion
        return matched, info

    def _parent_info(self, dir_path: str) -> list[bool] | None:
        if dir_path in ("", "."):
            return None
        cached = self._dirs.get(dir_path)
        if cached is not None:
            return cached
        parent = self._parent_info(dir_path.rpartition("/")[0])
        _, info = self.match_info(dir_path, parent)
        self._dirs[dir_path] = info
        return info

    def matches(self, path: str) -> bool:
        """Whether `path` (relative to the context root, "/"-separated) is
        excluded from the context."""
        path = go_clean(path)
        if path == ".":
            # the context root itself is never excluded
            return False
        matched, _ = self.match_info(path, self._parent_info(path.rpartition("/")[0]))
        return matched

    def excludes_dir_fully(self, path: str) -> bool:
        """Whether the walk may skip directory `path` altogether: it is
        excluded and no exception pattern starts inside it. This is
        go-archive's rule, wildcards and all: an exception like `!**/keep`
        does not stop the skip, exactly as docker's own context tarball."""
        if not self.matches(path):
            return False
        if not self.exclusions:
            return True
        prefix = go_clean(path) + "/"
        return not any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)
