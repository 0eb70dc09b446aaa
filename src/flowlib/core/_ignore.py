"""Git's ignore rules, decided one directory entry at a time while a tree is walked.

A walker asks :meth:`RuleSet.decide` about each entry whose parent directories are all kept, and
does not descend into a directory it is told to leave out. That is how git itself applies
``.gitignore``: a pattern is matched against the entry's own path (a file, or a directory), the last
pattern that matches decides, and nothing under an excluded directory can be brought back by a
later ``!pattern`` (git never looks inside).

Why not :class:`pathspec.GitIgnoreSpec`: it answers "is this full path ignored", counting matches
of a pattern against any ancestor directory, and its compiled regexes are prefix regexes whose
shape changed between releases. Pruning needs "does this pattern match this directory itself",
which differs for ``foo/**`` (matches everything in ``foo`` but not ``foo``: ``foo/**`` then
``!foo/keep`` keeps ``foo/keep``). So patterns are translated here, following git's wildmatch rules,
and the tests compare the result with ``git ls-files`` itself.

Pattern syntax (gitignore(5)): blank lines and ``#`` comments are skipped; trailing unescaped
spaces are dropped; ``!`` negates; a trailing ``/`` matches directories only; a pattern with another
``/`` is anchored to the directory holding the ignore file, else it matches an entry's name at any
depth; ``*`` and ``?`` never match ``/``; ``[...]`` classes (``!``/``^`` negation, ranges, POSIX
``[:alpha:]``); ``**`` as a whole path component matches any number of directories; ``\\``
escapes the next character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Pattern", "RuleSet", "parse_lines", "parse_pattern"]


@dataclass(frozen=True)
class Pattern:
    """One compiled ignore pattern.

    ``regex`` is matched (``fullmatch``) against the entry's name when ``basename`` is true, else
    against its path relative to the directory that holds the ignore file.
    """

    line: str
    regex: str
    negated: bool
    dir_only: bool
    basename: bool


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "blank": " \\t",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "\\x21-\\x7e",
    "lower": "a-z",
    "print": "\\x20-\\x7e",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\x0b\\x0c\\r ",
    "upper": "A-Z",
    "xdigit": "0-9A-Fa-f",
}


_LEADING_STARS = re.compile(r"^(?:\*{2,}/)+")


class _NeverMatches(Exception):
    """The pattern is malformed in a way that makes git's wildmatch match nothing."""


def _trim_trailing_spaces(text: str) -> str:
    # git's rule: drop the run of spaces at the end unless its first space is escaped.
    last_space = -1
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == " ":
            if last_space < 0:
                last_space = i
        elif ch == "\\":
            i += 1
            if i >= len(text):
                return text
            last_space = -1
        else:
            last_space = -1
        i += 1
    return text if last_space < 0 else text[:last_space]


def parse_pattern(line: str) -> Pattern | None:
    """Compile one ignore-file line; ``None`` for blanks, comments and patterns that can never
    match (an unterminated ``[``, an unknown ``[:class:]``, a trailing lone backslash)."""
    if not line or line.startswith("#"):
        return None
    text = _trim_trailing_spaces(line)
    negated = text.startswith("!")
    if negated:
        text = text[1:]
    dir_only = text.endswith("/")
    if dir_only:
        text = text[:-1]
    if not text:
        return None
    basename = "/" not in text
    if not basename and text.startswith("/"):
        text = text[1:]  # "/foo" is anchored: relative to the ignore file's directory
    else:
        # "**/foo" is "foo" at any depth: match the name, the cheaper test.
        rest = _LEADING_STARS.sub("", text)
        if rest and "/" not in rest:
            text, basename = rest, True
    try:
        regex = _translate(text)
    except _NeverMatches:
        return None
    return Pattern(line, regex, negated, dir_only, basename)


def parse_lines(lines: Iterable[str]) -> list[Pattern]:
    """Compile the lines of an ignore file (in order; the last match wins)."""
    return [p for p in map(parse_pattern, lines) if p is not None]


def _translate(pat: str) -> str:
    """A regex (for ``fullmatch``, DOTALL) equivalent to git's wildmatch with WM_PATHNAME."""
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        ch = pat[i]
        if ch == "\\":
            if i + 1 >= n:
                raise _NeverMatches
            out.append(re.escape(pat[i + 1]))
            i += 2
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "*":
            j = i
            while j < n and pat[j] == "*":
                j += 1
            # "**" is special only as a whole path component: at the start or after "/", and
            # at the end or before "/" (an escaped "\/" counts as "/" in git).
            whole = (
                j - i >= 2
                and (i == 0 or pat[i - 1] == "/")
                and (j == n or pat[j] == "/" or pat.startswith("\\/", j))
            )
            if not whole:
                out.append("[^/]*")
                i = j
            elif j == n:
                out.append(".*")  # "foo/**": everything inside foo (foo itself is not matched)
                i = j
            else:
                # "**/": zero or more directories. Repeated "**/**/" means the same thing and
                # would only make the regex backtrack more.
                if not (out and out[-1] == "(?:.*/)?"):
                    out.append("(?:.*/)?")
                i = j + (2 if pat[j] == "\\" else 1)
        elif ch == "[":
            cls, i = _bracket(pat, i)
            out.append(cls)
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


def _bracket(pat: str, start: int) -> tuple[str, int]:
    """Translate the bracket expression at ``pat[start] == "["``; returns (regex, next index).

    Mirrors wildmatch: a ``]`` right after ``[`` or ``[!`` is literal, ``a-z`` is a range (an
    inverted one matches nothing), ``[:name:]`` is a POSIX class, ``\\`` escapes, and a class
    never matches ``/``.
    """
    n = len(pat)
    i = start + 1
    negated = i < n and pat[i] in "!^"
    if negated:
        i += 1
    items: list[str] = []
    prev: str | None = None  # the last single character, a possible range start
    first = True
    while True:
        if i >= n:
            raise _NeverMatches  # unterminated: git's wildmatch aborts, nothing matches
        ch = pat[i]
        if ch == "]" and not first:
            i += 1
            break
        first = False
        if ch == "\\":
            if i + 1 >= n:
                raise _NeverMatches
            prev = pat[i + 1]
            items.append(re.escape(prev))
            i += 2
        elif ch == "-" and prev is not None and i + 1 < n and pat[i + 1] != "]":
            j = i + 1
            if pat[j] == "\\":
                if j + 1 >= n:
                    raise _NeverMatches
                j += 1
            hi = pat[j]
            items.pop()  # the range start, already added as a single character
            if prev <= hi:
                items.append(f"{re.escape(prev)}-{re.escape(hi)}")
            prev = None
            i = j + 1
        elif ch == "[" and pat.startswith(":", i + 1):
            close = pat.find("]", i + 2)
            if close < 0:
                raise _NeverMatches
            if close - 1 < i + 2 or pat[close - 1] != ":":
                # No ":]": the "[" is an ordinary character of the set.
                prev = "["
                items.append("\\[")
                i += 1
                continue
            name = pat[i + 2 : close - 1]
            if name not in _POSIX_CLASSES:
                raise _NeverMatches
            items.append(_POSIX_CLASSES[name])
            prev = None
            i = close + 1
        else:
            prev = ch
            items.append(re.escape(ch))
            i += 1
    body = "".join(items)
    if negated:
        return f"[^{body}/]", i
    return (f"(?!/)[{body}]" if body else "(?!)"), i


class RuleSet:
    """The patterns of one ignore file (plus, for the root, the built-in defaults before them).

    ``base`` is the directory holding the file, relative to the walked root ("" for the root).
    Patterns are compiled into a few combined regexes, one alternative per pattern in reverse
    order, so one ``fullmatch`` finds the last matching pattern: matching each of 10,000 paths
    against 30 patterns one by one would cost more than reading the files.
    """

    __slots__ = ("_cut", "_dirs", "_files", "base", "negated", "patterns", "source")

    def __init__(self, patterns: Sequence[Pattern], *, base: str = "", source: str = "") -> None:
        self.base = base
        self.source = source
        self.patterns = tuple(patterns)
        self.negated = tuple(p.negated for p in self.patterns)
        self._cut = len(base) + 1 if base else 0
        self._files = (
            _combine(self.patterns, basename=True, dirs=False),
            _combine(self.patterns, basename=False, dirs=False),
        )
        self._dirs = (
            _combine(self.patterns, basename=True, dirs=True),
            _combine(self.patterns, basename=False, dirs=True),
        )

    def decide(self, rel: str, name: str, is_dir: bool) -> bool | None:
        """The verdict of the last pattern matching the entry ``rel`` (root-relative, no trailing
        slash; ``name`` its last component): ``False`` excluded, ``True`` re-included by a
        ``!pattern``, ``None`` when no pattern matches."""
        by_name, by_path = self._dirs if is_dir else self._files
        best = -1
        if by_name is not None:
            m = by_name[0].fullmatch(name)
            if m is not None:
                best = by_name[1][m.lastindex or 0]
        if by_path is not None:
            m = by_path[0].fullmatch(rel[self._cut :] if self._cut else rel)
            if m is not None:
                best = max(best, by_path[1][m.lastindex or 0])
        return None if best < 0 else self.negated[best]


_Combined = tuple[re.Pattern[str], list[int]]


def _combine(patterns: Sequence[Pattern], *, basename: bool, dirs: bool) -> _Combined | None:
    """One regex whose first matching alternative is the last matching pattern; with the map
    from capture group number to pattern index. Pattern regexes have no capture groups of their
    own, so ``lastindex`` names the alternative that matched."""
    chosen = [
        (index, p)
        for index, p in enumerate(patterns)
        if p.basename == basename and (dirs or not p.dir_only)
    ]
    if not chosen:
        return None
    chosen.reverse()
    regex = re.compile("|".join(f"({p.regex})" for _, p in chosen), re.DOTALL)
    return regex, [-1] + [index for index, _ in chosen]
