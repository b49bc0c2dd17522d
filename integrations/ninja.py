"""``linkpool ninja [NINJA ARGS...]``: ninja, with its link rules through the machine-wide pool.

A build's own link limit (a ninja ``pool``, CMake's ``JOB_POOL_LINK``, Meson's
``backend_max_links``) knows nothing of the other builds on the machine. This command:

1. brings the manifest up to date: when an edge of the manifest (``-f``, in ``-C``) builds
   the manifest itself (CMake's ``RERUN_CMAKE``, Meson's ``REGENERATE_BUILD``), it runs
   ``ninja build.ninja`` first, so the generator cannot rewrite the file under step 3;
2. rewrites the link rules, in the manifest and every file it reads (``include``,
   ``subninja``): the link command of each (the one part of a ``&&``/``||``/``;``/``|``
   chain that links) gets ``linkpool run --`` in front, the rule's ``pool`` binding goes
   (and so does a ``pool`` binding on the rule's build edges), ``pool = console`` stays,
   and a comment line ``# linkpool: ...`` marks the rule as done;
3. runs ninja with the arguments as given and returns its exit status.

Link rules are CMake's ``<LANG>_{EXECUTABLE,SHARED_LIBRARY,MODULE_LIBRARY}_LINKER__*``,
Meson's ``<lang>_LINKER[_FOR_BUILD][_RSP]`` (not ``STATIC_LINKER``, ``AIX_LINKER`` or
``java_LINKER``), and any other rule whose command, with the file's variables put in,
``linkpool.command.parse`` calls a gcc/clang or linker link. Archive rules (``ar``) are
left alone. Commands are edited as ninja text, escapes kept: ``$$``, ``$ ``, ``$:``,
``$`` + newline (a continued line), ``${var}``; response files (``@$out.rsp``) are read by
the engine itself. The rewrite is idempotent and deterministic, so after the first
``linkpool ninja`` (which relinks once: ninja hashes every command line into .ninja_log)
neither a second run nor a regeneration of the manifest relinks anything.

``-t TOOL``, ``-n``, ``-h`` and ``--version`` run ninja unchanged (``-h`` or ``--help`` as
the first argument prints this command's help, then ninja's). ninja is ``$NINJA``,
else ``ninja`` (or ``samu``) on ``PATH``. The second half of the module is a small reader
of ninja's syntax (statements, bindings, escapes, scopes): only what the rewrite needs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import Callable

from ..names import say
from . import linkpool_command

MARK = "# linkpool:"
CMAKE_LINK_RULE = re.compile(r"\w+_(EXECUTABLE|SHARED_LIBRARY|MODULE_LIBRARY)_LINKER__")
MESON_LINK_RULE = re.compile(r"(\w+?)_LINKER(_FOR_BUILD)?(_RSP)?")
MESON_NOT_LINKS = frozenset({"STATIC", "AIX", "java"})
_VARNAME = re.compile(r"[A-Za-z0-9_-]+")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_IN = re.compile(r"\$(\{in(_newline)?\}|in(_newline)?(?![A-Za-z0-9_-]))|@")
_NINJA_VALUE_OPTS = "dfjkltwC"  # ninja's short options that take a value
STATEMENTS = frozenset({"rule", "build", "pool", "include", "subninja", "default"})
# ``build OUTPUTS: RULE ...``: the first ":" that no "$" escapes, then the rule's name.
_BUILD_RULE = re.compile(r"(?:[^$:]|\$.)*:[ ]*([A-Za-z0-9_.-]+)", re.S)
# One path of a list: up to an unescaped blank ("$" + newline + indent joins a path).
_PATH_WORD = re.compile(r"(?:[^$ ]|\$\r?\n[ ]*|\$.)+", re.S)


HELP = """\
usage: linkpool ninja [NINJA ARG...]

Run ninja with the build's link rules through the machine-wide pool: bring the manifest
up to date (its own regeneration edge, if it has one), rewrite the link rules of
build.ninja (-f FILE, in -C DIR) and of the files it includes so each link runs as
`linkpool run -- ...` and no build-local `pool` limits it, then run ninja with the
arguments as given and exit with its status. Archive rules and compiles are left alone;
the rewrite is idempotent, so a second run relinks nothing. -t TOOL, -n and --version
run ninja unchanged. ninja is $NINJA, else ninja (or samu) on PATH. docs/ninja.md has
the rest.

Every argument is ninja's; ninja's own options follow.
"""


def main(args: list[str]) -> int:
    """``linkpool ninja``: regenerate, rewrite the link rules, run ninja; its exit status."""
    ninja = find_ninja()
    if args[:1] in (["-h"], ["--help"]):
        sys.stdout.write(HELP + "\n")
        if ninja is not None:  # ninja -h prints its usage on stderr and exits 1
            done = subprocess.run([ninja, "-h"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, check=False)
            sys.stdout.write(done.stdout)
        else:
            sys.stdout.write("(ninja not found: install it with `pip install ninja`, or set "
                             "$NINJA)\n")
        return 0
    if ninja is None:
        from ..configfile import UsageError

        raise UsageError("ninja: cannot find ninja: install it (pip install ninja) or set "
                         "$NINJA")
    directory, manifest, passthrough = parse_ninja_args(args)
    build_dir = os.path.abspath(directory or ".")
    path = os.path.join(build_dir, manifest)
    if not passthrough and os.path.isfile(path):
        try:
            status = regenerate(ninja, directory, manifest, build_dir)
            if status:
                return status
            rewrite(path, build_dir)
        except (OSError, ValueError) as e:  # our failure must not stop the build
            say(f"warning: cannot rewrite the link rules of {path} ({e}); "
                 f"running ninja without linkpool")
    return _wait(subprocess.Popen([ninja, *args]))


def find_ninja() -> str | None:
    chosen = os.environ.get("NINJA")
    if chosen and os.path.basename(chosen) != "linkpool":
        return shutil.which(chosen) or chosen
    return shutil.which("ninja") or shutil.which("samu")


def parse_ninja_args(args: list[str]) -> tuple[str | None, str, bool]:
    """(``-C`` dir, ``-f`` file, whether to run ninja untouched) from ninja's arguments."""
    directory: str | None = None
    manifest, passthrough = "build.ninja", False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break
        if arg in ("--version", "--help"):
            passthrough = True
        if not arg.startswith("-") or arg.startswith("--") or arg == "-":
            continue
        for j, flag in enumerate(arg[1:], 1):  # getopt clusters: -nv, -C dir, -Cdir
            if flag in "nh":
                passthrough = True
            if flag in _NINJA_VALUE_OPTS:
                value = arg[j + 1:]
                if not value and i < len(args):
                    value, i = args[i], i + 1
                if flag == "C":
                    directory = value
                elif flag == "f":
                    manifest = value
                elif flag == "t":
                    passthrough = True
                break
    return directory, manifest, passthrough


def _wait(proc: subprocess.Popen[bytes]) -> int:
    while True:
        try:
            code = proc.wait()
        except KeyboardInterrupt:  # ninja has the same SIGINT: let it stop its commands
            continue
        return 128 - code if code < 0 else code


def regenerate(ninja: str, directory: str | None, manifest: str, build_dir: str) -> int:
    """Run the manifest's own regeneration edge, if it has one; ninja's exit status."""
    target = Manifest(os.path.join(build_dir, manifest), build_dir).generator_output()
    if target is None:
        return 0
    argv = [ninja, *(["-C", directory] if directory else []), "-f", manifest, target]
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    quiet = (b"ninja: no work to do.", b"ninja: Entering directory")
    text = b"".join(line for line in done.stdout.splitlines(keepends=True)
                    if not line.startswith(quiet))
    sys.stdout.buffer.write(text)
    sys.stdout.flush()
    return 128 - done.returncode if done.returncode < 0 else done.returncode


def rewrite(manifest: str, build_dir: str | None = None,
            launcher: list[str] | None = None) -> list[str]:
    """Route the link rules of ``manifest`` and its includes through linkpool.

    Returns the files changed (none when they were rewritten already).
    """
    words = launcher or linkpool_command()
    prefix = " ".join(shlex.quote(word) for word in [*words, "run", "--"]).replace("$", "$$")
    loaded = Manifest(manifest, build_dir or os.path.dirname(os.path.abspath(manifest)))
    links = loaded.link_rules()
    names = {block.name for block in links}
    changed = []
    for file in loaded.files:
        edits: list[tuple[int, int, str]] = []
        for block in file.blocks:
            if block in links and not block.marked():
                edits += _rule_edits(file.text, block, links[block], prefix)
            elif block.kind == "build" and block.rule in names:
                edits += [(b.start, b.end, "") for b in block.bindings
                          if b.key == "pool" and b.value.strip() != "console"]
        if edits:
            parts, done = [], 0
            for start, end, new in sorted(edits):
                parts += [file.text[done:start], new]
                done = end
            _replace(file.path, "".join(parts) + file.text[done:])
            changed.append(file.path)
    return changed




def _rule_edits(text: str, block: Block, at: int | None,
                prefix: str) -> list[tuple[int, int, str]]:
    """Turn one link rule: the prefix at ``at`` (if any), its pool gone, a mark added."""
    pools = [b for b in block.bindings if b.key == "pool" and b.value.strip() != "console"]
    was = f" (was: pool = {pools[0].value.strip()})" if pools else ""
    indent = block.bindings[0].indent if block.bindings else "  "
    eol = "\r\n" if text[block.header_end - 2:block.header_end] == "\r\n" else "\n"
    mark = f"{indent}{MARK} link rule, runs through `linkpool run`{was}{eol}"
    edits = [(block.header_end, block.header_end, mark)]
    edits += [(b.start, b.end, "") for b in pools]
    if at is not None:
        edits.append((at, at, prefix + " "))
    return edits


def _replace(path: str, text: str) -> None:
    tmp = f"{path}.linkpool-{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as out:
            out.write(text.encode("utf-8", "surrogateescape"))
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


# -- reading ninja files ------------------------------------------------------------------


class Binding:
    """``  key = value`` inside a rule or build block; offsets into the file's text."""

    __slots__ = ("end", "indent", "key", "start", "value", "value_start")

    def __init__(self, start: int, end: int, indent: str, key: str, value_start: int,
                 value: str) -> None:
        self.start, self.end, self.indent, self.key = start, end, indent, key
        self.value_start, self.value = value_start, value  # raw: escapes not undone


class Block:
    """One top-level statement with its indented bindings and comments."""

    def __init__(self, kind: str, rest: str, header_end: int) -> None:
        self.kind, self.rest = kind, rest  # rest: the header after its keyword, raw
        self.header_end = header_end  # where its first indented line starts
        self.bindings: list[Binding] = []
        self.comments: list[str] = []
        self.name = rest.strip() if kind in ("rule", "pool") else ""
        self.rule = ""  # of a build block
        if kind == "build":
            m = _BUILD_RULE.match(rest)
            self.rule = m.group(1) if m else ""

    def marked(self) -> bool:
        return any(line.lstrip().startswith(MARK) for line in self.comments)

    def binding(self, key: str) -> Binding | None:
        return next((b for b in self.bindings if b.key == key), None)

    def outputs(self) -> list[str]:
        """The raw output paths of a build block, explicit and implicit."""
        head = _BUILD_RULE.match(self.rest)
        text = self.rest[:head.end(0) - len(head.group(1))] if head else ""
        text = text.rstrip(" ")[:-1]  # the ":"
        return [w for w in _PATH_WORD.findall(text) if w != "|"]


class File:
    def __init__(self, path: str, text: str, blocks: list[Block]) -> None:
        self.path, self.text, self.blocks = path, text, blocks


class Manifest:
    """A manifest and every file it includes, with the variables at file level."""

    def __init__(self, path: str, build_dir: str) -> None:
        self.build_dir = build_dir
        self.files: list[File] = []
        self.rules: list[tuple[Block, dict[str, str]]] = []
        self.edges: list[tuple[Block, dict[str, str]]] = []
        self._load(os.path.abspath(path), {}, set())

    def _load(self, path: str, scope: dict[str, str], seen: set[str]) -> None:
        if os.path.realpath(path) in seen:
            return
        seen.add(os.path.realpath(path))
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "surrogateescape")
        file = File(path, text, scan(text))
        self.files.append(file)
        for block in file.blocks:
            if block.kind == "var":
                name, _, value = block.rest.partition("=")
                scope[name.strip()] = evaluate(value.strip(" \r\n"), scope.get)
            elif block.kind in ("include", "subninja"):
                child = os.path.join(self.build_dir, evaluate(block.rest.strip(), scope.get))
                self._load(child, scope if block.kind == "include" else dict(scope), seen)
            elif block.kind == "rule":
                self.rules.append((block, scope))
            elif block.kind == "build":
                self.edges.append((block, scope))

    def generator_output(self) -> str | None:
        """How the manifest names itself as the output of an edge, if one builds it."""
        me = os.path.normpath(self.files[0].path)
        for block, scope in self.edges:
            for raw in block.outputs():
                out = evaluate(raw, scope.get)
                if os.path.normpath(os.path.join(self.build_dir, out)) == me:
                    return out
        return None

    def link_rules(self) -> dict[Block, int | None]:
        """Each link rule -> the offset where the prefix goes (None: marked, or it runs
        through linkpool already)."""
        found: dict[Block, int | None] = {}
        for block, scope in self.rules:
            command = block.binding("command")
            if block.marked():
                found[block] = None
            elif command is not None:
                m = MESON_LINK_RULE.fullmatch(block.name)
                named = bool(CMAKE_LINK_RULE.match(block.name)) or (
                    m is not None and m.group(1) not in MESON_NOT_LINKS)
                is_link, at = self._link_command(block, command, scope, named)
                if is_link:
                    found[block] = at
        return found

    def _link_command(self, block: Block, command: Binding, scope: dict[str, str],
                      named: bool) -> tuple[bool, int | None]:
        """Whether ``block`` links, and where in the file its link command starts."""
        from ..command import CommandError, parse

        own = {b.key: b.value for b in block.bindings}

        def lookup(name: str, depth: int = 0) -> str:
            if name in ("in", "in_newline"):
                return "input.o"
            if name == "out":
                return "output"
            if name in own and depth < 8:
                return evaluate(own[name], lambda n: lookup(n, depth + 1))
            return scope.get(name, "")

        raw = command.value
        fallback = None
        for start, end in split_commands(raw):
            at = start + command_start(raw[start:end])
            try:
                words = shlex.split(evaluate(raw[at:end], lookup))
            except ValueError:
                words = []
            while words and _ASSIGNMENT.match(words[0]):
                words.pop(0)
            if not words:
                continue
            if os.path.basename(words[0]) == "linkpool":
                return True, None  # e.g. CMake's CMAKE_<LANG>_LINKER_LAUNCHER=linkpool
            try:
                cmd = parse(words, self.build_dir)
            except CommandError:
                continue
            if cmd.tool in ("driver", "linker") and cmd.kind == "link":
                return True, command.value_start + at
            if fallback is None and _IN.search(raw[at:end]):
                fallback = command.value_start + at
        return (True, fallback) if named and fallback is not None else (False, None)


def logical_lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line, a ``$``-continued line taken whole; end after the newline.

    A newline is escaped when an odd number of ``$`` (before an optional ``\\r``) ends
    the line; in a comment line nothing is escaped.
    """
    lines, pos, n = [], 0, len(text)
    while pos < n:
        comment = text[pos:pos + 200].lstrip(" ").startswith("#")
        i = pos
        while True:
            nl = text.find("\n", i)
            if nl < 0:
                i = n
                break
            j = nl - 1 if nl > 0 and text[nl - 1] == "\r" else nl
            k = j
            while k > pos and text[k - 1] == "$":
                k -= 1
            i = nl + 1
            if comment or (j - k) % 2 == 0:
                break
        lines.append((pos, i))
        pos = i
    return lines


def scan(text: str) -> list[Block]:
    """The statements of one ninja file. As in ninja's lexer, a block ends at a blank
    line or an unindented statement; comment lines, indented or not, do not end it."""
    blocks: list[Block] = []
    current: Block | None = None
    for start, end in logical_lines(text):
        body = text[start:end].rstrip("\r\n")
        stripped = body.lstrip(" ")
        if stripped.startswith("#"):
            if current is not None:
                current.comments.append(body)
            continue
        if not stripped:
            current = None
            continue
        if body != stripped:  # indented: a binding of the current block
            key, eq, _ = stripped.partition("=")
            # of an edge only `pool` matters, and big builds have millions of bindings
            if current is not None and eq and (current.kind != "build"
                                                or key.strip() == "pool"):
                indent = body[:len(body) - len(stripped)]
                at = len(indent) + len(key) + 1
                while at < len(body) and body[at] == " ":
                    at += 1
                current.bindings.append(Binding(start, end, indent, key.strip(), start + at,
                                                body[at:]))
            continue
        keyword, _, rest = body.partition(" ")
        kind = keyword if keyword in STATEMENTS else "var"
        block = Block(kind, body if kind == "var" else rest, end)
        current = block if kind in ("rule", "build", "pool") else None
        blocks.append(block)
    return blocks


def evaluate(raw: str, lookup: Callable[[str], str | None]) -> str:
    """Ninja's evaluation of a value: escapes undone, ``$var``/``${var}`` looked up."""
    out, i, n = [], 0, len(raw)
    while i < n:
        c = raw[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = raw[i + 1:i + 2]
        if nxt in ("$", " ", ":"):
            out.append(nxt)
            i += 2
        elif nxt in ("\n", "\r"):  # continuation: the newline and the next line's indent go
            i += 3 if raw[i + 1:i + 3] == "\r\n" else 2
            while i < n and raw[i] == " ":
                i += 1
        elif nxt == "{":
            close = raw.find("}", i)
            close = n if close < 0 else close
            out.append(lookup(raw[i + 2:close]) or "")
            i = close + 1
        else:
            m = _VARNAME.match(raw, i + 1)
            if m is None:
                out.append("$")
                i += 1
            else:
                out.append(lookup(m.group(0)) or "")
                i = m.end()
    return "".join(out)


def _skip_ninja_escape(raw: str, i: int) -> int:
    """The index after the ``$`` escape or variable reference at ``raw[i]``."""
    nxt = raw[i + 1:i + 2]
    if nxt == "{":
        close = raw.find("}", i)
        return len(raw) if close < 0 else close + 1
    m = _VARNAME.match(raw, i + 1)
    if m is not None:
        return m.end()
    return i + (3 if raw[i + 1:i + 3] == "\r\n" else 2)


def split_commands(raw: str) -> list[tuple[int, int]]:
    """(start, end) of each shell command in a raw command value: split at the ``&&``,
    ``||``, ``|`` and ``;`` that are outside shell quotes (``>&``/``2>&1`` stay)."""
    segments, start, quote, i, n = [], 0, "", 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "$":
            i = _skip_ninja_escape(raw, i)
        elif quote == "'":
            quote = "" if c == "'" else quote
            i += 1
        elif c == "\\":
            i += 2
        elif quote == '"':
            quote = "" if c == '"' else quote
            i += 1
        elif c in "'\"":
            quote = c
            i += 1
        elif raw.startswith(("&&", "||"), i) or c in "|;":
            size = 2 if raw.startswith(("&&", "||"), i) else 1
            segments.append((start, i))
            i += size
            start = i
        else:
            i += 1
    segments.append((start, n))
    return segments


def command_start(segment: str) -> int:
    """Where the program of one shell command begins: after blanks and VAR=value words."""
    i, n = 0, len(segment)
    while True:
        while i < n and (segment[i] in " \t" or segment.startswith(("$\n", "$ "), i)):
            i += 1 if segment[i] in " \t" else 2
        if not _ASSIGNMENT.match(segment, i):
            return i
        quote = ""
        while i < n and (quote or segment[i] not in " \t"):  # skip the assignment word
            c = segment[i]
            if c == "$":
                i = _skip_ninja_escape(segment, i)
                continue
            if quote and c == quote:
                quote = ""
            elif not quote and c in "'\"":
                quote = c
            i += 1
