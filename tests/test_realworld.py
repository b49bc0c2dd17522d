"""The real-world acceptance suite: open-source projects nobody here wrote, taken from PyPI
sdists and Debian source packages at pinned versions, each built twice into separate trees,
once bare and once through linkpool, and the two builds compared.

linkpool is turned on by one of two routes: ``recipe``, each build system's own recipe as
its page in docs/ says, or ``switch``, the one switch of docs/shims.md and nothing else:
``COMPILER_PATH="$(linkpool setup shims)"``, no build file or option naming linkpool, and
linkpool's venv not on ``PATH`` (in both builds of the pair). Each run builds with one
compiler, gcc or Debian's clang, given to every project (CC/CXX, CMake's
``-DCMAKE_<LANG>_COMPILER``, configure's ``CC=``, SCons's ``CC=``); Cargo links with
``cc`` (gcc) whatever the choice.

The builds must agree: the same artefacts (the same ELF files, or the same wheel contents,
with the same ELF type each), the same results from the project's own tests (`meson test`,
`ctest`, `make check`, `scons check`, `cargo test`, the built extension imported from the
wheel), every link of the linkpool build in `linkpool history`, as many as the build system
ran (counted from its own output), and no traceback and no `linkpool:` line in any log.

`bash scripts/realworld.sh [--switch] [--clang]` runs every project
(``LINKPOOL_REALWORLD=all``) by that route with that compiler
(``LINKPOOL_REALWORLD_ROUTE``, ``LINKPOOL_REALWORLD_CC``; recipe and gcc by default). The
normal test suite runs the quick projects, marked ``realworld_ci``, by their recipes with
gcc, and one of them (:data:`SWITCH_CI`) through the switch with gcc and with clang.
Downloads are kept in ``.realworld-cache/`` (or ``$LINKPOOL_REALWORLD_CACHE``), so a second
run is offline. Each run writes ``table.md`` in ``results/`` there (or in
``$LINKPOOL_REALWORLD_RESULTS``): the tables of docs/realworld.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any, Callable
from xml.etree import ElementTree

import cmake
import pytest

from conftest import BIN, LINKPOOL, history, lp, make_pool

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("LINKPOOL_REALWORLD_CACHE") or ROOT / ".realworld-cache")
RESULTS = Path(os.environ.get("LINKPOOL_REALWORLD_RESULTS") or CACHE / "results")
FULL = os.environ.get("LINKPOOL_REALWORLD") == "all"
ROUTES = ("recipe", "switch")
COMPILERS = {"gcc": ("gcc", "g++"), "clang": ("clang", "clang++")}
# The run's route and compiler (scripts/realworld.sh --switch --clang); unset, the normal
# suite's choice (SELECTED below).
ROUTE = os.environ.get("LINKPOOL_REALWORLD_ROUTE") or None
COMPILER = os.environ.get("LINKPOOL_REALWORLD_CC") or None
if ROUTE not in (None, *ROUTES) or COMPILER not in (None, *COMPILERS):
    raise ValueError(f"LINKPOOL_REALWORLD_ROUTE={ROUTE!r} (one of {ROUTES}), "
                     f"LINKPOOL_REALWORLD_CC={COMPILER!r} (one of {tuple(COMPILERS)})")
MESON, NINJA, CMAKE, CTEST, SCONS = (str(BIN / n) for n in ("meson", "ninja", "cmake", "ctest",
                                                             "scons"))
# Debian's Rust, not a rustup one that may come first on PATH
CARGO, RUSTC, RUSTDOC = "/usr/bin/cargo", "/usr/bin/rustc", "/usr/bin/rustdoc"
TIMEOUT = 1500
# "[12/85] Linking C shared library libjson-c.so.5.2.0", "[ 40%] Linking CXX executable t"
CMAKE_LINK = re.compile(r"Linking (C|CXX) (executable|shared library|shared module) ")
# Folders of configure-time checks: their links are real and, for Meson's and SCons's, go
# through linkpool and are recorded, but they are the build system's probes, not the
# build's own links. CMake's probes (CMakeFiles/: the compiler's identification, then
# try_compile) do not use the linker launcher, but the switch reaches them; a target's
# own output never goes to CMakeFiles/.
CHECK_DIRS = {"meson-private", ".sconf_temp"}
PROBE_DIRS = {*CHECK_DIRS, "CMakeFiles"}
# What Autoconf's checks link (`cc conftest.c`, `cc -o conftest conftest.c`) in the folder
# configure runs in: through the switch, these are recorded too.
PROBE_FILES = {"a.out", "conftest"}
# Variables that could carry a per-build recipe (or the switch) from the developer's
# environment into a build: every build here sets its own, or none.
RECIPE_VARS = ("CC", "CXX", "LDFLAGS", "CFLAGS", "CXXFLAGS", "CMAKE_ARGS", "COMPILER_PATH",
               "PIP_CONFIG_SETTINGS", "PIP_NO_BUILD_ISOLATION", "RUSTFLAGS", "RUSTDOCFLAGS",
               "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER")


# --- sources, downloaded once ----------------------------------------------------------

def _run_quiet(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)


def pypi_sdist(name: str, version: str) -> Path:
    """The sdist of NAME==VERSION, downloaded from PyPI with pip into the cache once."""
    folder = CACHE / "pypi"
    wanted = f"{name}-{version}.tar.gz".replace("-", "_").lower()

    def cached() -> list[Path]:
        return [p for p in folder.glob("*.tar.gz") if p.name.replace("-", "_").lower() == wanted]

    if not cached():
        part = folder / f".part-{os.getpid()}"
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        done = _run_quiet([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                           "--no-binary", name, f"{name}=={version}", "-d", str(part)], folder)
        assert done.returncode == 0, f"pip download {name}=={version}:\n{done.stderr[-3000:]}"
        for path in part.iterdir():
            path.rename(folder / path.name)
        part.rmdir()
    (path,) = cached()
    return path


APT = CACHE / "apt"


def apt_get(*args: str) -> list[str]:
    """apt-get with a source list, lists and cache of its own: the system's apt
    configuration is not touched."""
    own = [f"Dir::Etc::SourceList={APT / 'sources.list'}", "Dir::Etc::SourceParts=/nonexistent",
           f"Dir::State::Lists={APT / 'lists'}", f"Dir::Cache={APT / 'cache'}"]
    if os.geteuid() == 0:
        own.append("APT::Sandbox::User=root")  # the cache is root's; no _apt download user
    return ["apt-get", "-q", *(w for o in own for w in ("-o", o)), *args]


def dsc_files(dsc: Path) -> dict[str, str]:
    """File name -> SHA-256, from the .dsc's Checksums-Sha256 field."""
    files, inside = {}, False
    for line in dsc.read_text().splitlines():
        if line.startswith("Checksums-Sha256:"):
            inside = True
        elif inside and line.startswith(" "):
            sha, _size, name = line.split()
            files[name] = sha
        else:
            inside = False
    return files


def debian_source(package: str, version: str, whole: bool = False) -> Path:
    """The .dsc of Debian bookworm's source package PACKAGE=VERSION, downloaded once into
    the cache with the files it lists (all of them if ``whole``, else at least the upstream
    .orig tarball: the archive mirror here does not always carry the Debian part), each
    checked against the SHA-256 the .dsc gives."""
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is not installed: Debian source packages cannot be downloaded")
    folder = CACHE / "debian"
    dsc = folder / f"{package}_{version.split(':')[-1]}.dsc"

    def missing() -> list[str]:
        if not dsc.exists():
            return [dsc.name]
        names = list(dsc_files(dsc))
        need = names if whole else [n for n in names if is_orig(n)]
        return [n for n in need if not (folder / n).exists()] or ([] if need else ["orig"])

    if missing():
        (APT / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (APT / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        folder.mkdir(parents=True, exist_ok=True)
        (APT / "sources.list").write_text("deb-src http://deb.debian.org/debian bookworm main\n")
        if not any((APT / "lists").glob("*Sources*")):
            done = _run_quiet(apt_get("update"), folder)
            assert done.returncode == 0, done.stdout + done.stderr
        # Status 100 when one of the files is not on the mirror; what is there is kept.
        done = _run_quiet(apt_get("source", "--download-only", f"{package}={version}"), folder)
        assert not missing(), f"{package}={version}: {missing()}\n{done.stdout}{done.stderr}"
    for name, sha in dsc_files(dsc).items():
        if (folder / name).exists():
            digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            assert digest == sha, f"{name}: SHA-256 {digest}, the .dsc says {sha}"
    return dsc


def unpack_tar(archive: Path, into: Path) -> Path:
    """Unpack ARCHIVE into INTO (a new folder) and return its one top-level folder."""
    into.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # Python < 3.11.4: the archives are pinned and checked, so trusted
            tar.extractall(into)
    (top,) = list(into.iterdir())
    return top


def is_orig(name: str) -> bool:
    """The upstream tarball of a .dsc's files (not its signature, .orig.tar.gz.asc)."""
    return ".orig.tar." in name and not name.endswith(".asc")


def orig_of(dsc: Path) -> Path:
    (name,) = [n for n in dsc_files(dsc) if is_orig(n)]
    return dsc.parent / name


# --- one build --------------------------------------------------------------------------

class Build:
    """One build of one project into ROOT: bare (``pool`` None) or through linkpool, by
    ROUTE (its recipe, or the switch), with COMPILER (gcc or clang).

    Both builds of a switch pair run without linkpool's venv on ``PATH``, with a folder of
    the build tools instead (``tools/``: meson, ninja, cmake, ctest, scons), and the
    linkpool build has ``COMPILER_PATH``, ``LINKPOOL_DIR`` and ``LINKPOOL_QUIET`` and
    nothing else of linkpool's."""

    def __init__(self, project: Project, root: Path, pool: Path | None,
                 route: str = "recipe", compiler: str = "gcc") -> None:
        self.root, self.pool, self.route = root, pool, route
        self.cc, self.cxx = COMPILERS[compiler]
        root.mkdir(parents=True)
        self.src = project.unpack(root / "src")
        self.tree = root / "build"  # where the artefacts are; a recipe may say otherwise
        # conftest took the developer's LINKPOOL_* out; a bare build is bare
        self.env = {k: v for k, v in os.environ.items() if k not in RECIPE_VARS}
        self.tools: Path | None = None
        if route == "switch":
            self.tools = tool_folder(root / "tools")
            path = [d for d in self.env["PATH"].split(os.pathsep) if Path(d) != BIN]
            self.env["PATH"] = os.pathsep.join([str(self.tools), *path])
        self.shims: str | None = None
        if pool is not None:
            self.env.update(LINKPOOL_DIR=str(pool), LINKPOOL_QUIET="1")
            if route == "switch":  # docs/shims.md: the one switch
                self.shims = lp("setup", "shims", "--dir", str(root / "shims"),
                                check=True).stdout.strip()
                self.env["COMPILER_PATH"] = self.shims
        self.logs: list[str] = []
        self.seconds = 0.0  # configure and build, not the project's tests
        self.links = 0  # links the build system ran, counted from its own output
        self.tests: Any = None  # the project's own test results, comparable with ==
        self.wheel: Path | None = None
        self.status = 0

    @property
    def recipe(self) -> bool:
        """Whether this build turns linkpool on by its build system's recipe."""
        return self.pool is not None and self.route == "recipe"

    def run(self, argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
            timed: bool = True, check: bool = True) -> str:
        """Run one step of the build; its output (stdout and stderr) is returned and kept."""
        start = time.monotonic()
        done = subprocess.run(argv, cwd=cwd or self.src, env={**self.env, **(env or {})},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, text=True, errors="replace",
                              timeout=TIMEOUT)
        if timed:
            self.seconds += time.monotonic() - start
        self.status = done.returncode
        self.logs.append(done.stdout)
        with open(self.root / "build.log", "a") as log:
            log.write(f"$ {shlex.join(argv)}   # exit {done.returncode}\n{done.stdout}\n")
        if check:
            assert done.returncode == 0, (f"{shlex.join(argv)} exited {done.returncode} in "
                                          f"{self.root}:\n{done.stdout[-4000:]}")
        return done.stdout

    def pip_wheel(self, *options: str, env: dict[str, str] | None = None) -> str:
        """`pip wheel` of the unpacked sdist, with pip's defaults (build isolation on).

        linkpool's own environment is not on PATH here, as when linkpool is installed on its
        own: the console scripts there (PyPI's `cmake`) fail inside pip's isolation with a
        traceback, in the bare build as much as in the other (every linkpool command below
        is named by its absolute path). Nor is the switch's folder of tools: every route
        builds a wheel with the same ``PATH``."""
        path = os.pathsep.join(p for p in self.env["PATH"].split(os.pathsep)
                               if p not in (str(BIN), str(self.tools)))
        out = self.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps",
                        "-w", str(self.root / "wheel"), str(self.src), *options],
                       env={"PATH": path, **(env or {})})
        (self.wheel,) = (self.root / "wheel").glob("*.whl")
        return out

    def import_from_wheel(self, code: str) -> str:
        """Run CODE with the wheel unpacked first on sys.path; `SITE` stands for that
        folder in the output, so that the two builds' outputs compare."""
        assert self.wheel is not None
        site = self.root / "site"
        with zipfile.ZipFile(self.wheel) as whl:
            whl.extractall(site)
        prelude = f"import sys; sys.path.insert(0, {str(site)!r})\n"
        out = self.run([sys.executable, "-I", "-c", prelude + code], cwd=self.root, timed=False)
        return out.replace(str(site), "SITE")

    def artefacts(self) -> dict[str, int]:
        """Every ELF file the build left (relative path -> ELF type); for a wheel, every file
        in it (ELF type, or 0), and the wheel's own name."""
        if self.wheel is not None:
            found = {self.wheel.name: 0}
            with zipfile.ZipFile(self.wheel) as whl:
                for name in whl.namelist():
                    found[name] = elf_type(whl.read(name)[:18]) or 0
            return found
        found = {}
        for folder, dirs, files in os.walk(self.tree):
            dirs[:] = [d for d in dirs if d not in CHECK_DIRS and d != "incremental"]
            for name in files:
                path = os.path.join(folder, name)
                if not os.path.islink(path):
                    with open(path, "rb") as f:
                        kind = elf_type(f.read(18))
                    if kind:
                        found[os.path.relpath(path, self.tree)] = kind
        return found

    def linked(self) -> set[str]:
        """The linked artefacts (ELF executables and shared objects) the build left, as
        absolute paths, or as file names for a wheel's."""
        if self.wheel is not None:
            return {os.path.basename(n) for n, k in self.artefacts().items() if k in (2, 3)}
        return {str(self.tree / n) for n, k in self.artefacts().items()
                if k in (2, 3) and not PROBE_DIRS.intersection(Path(n).parts)}


def tool_folder(folder: Path) -> Path:
    """A folder of the build tools the suite drives, for a ``PATH`` without linkpool's
    venv: meson, ninja and scons from it (scripts whose Python is the venv's; they do not
    start linkpool), cmake and ctest as the programs of PyPI's cmake."""
    folder.mkdir()
    for name in ("meson", "ninja", "scons"):
        os.symlink(BIN / name, folder / name)
    for name in ("cmake", "ctest"):
        os.symlink(Path(cmake.CMAKE_BIN_DIR) / name, folder / name)
    return folder


def elf_type(head: bytes) -> int | None:
    """e_type of an ELF header (1 relocatable, 2 executable, 3 shared object or PIE)."""
    if head[:4] != b"\x7fELF" or len(head) < 18:
        return None
    return int.from_bytes(head[16:18], "little")


# --- the projects: how each is built, bare and through linkpool --------------------------

def meson_native_file(b: Build) -> str:
    """`linkpool setup meson` (docs/meson.md): the native file's absolute path."""
    return lp("setup", "meson", "--output", str(b.root / "linkpool.ini"), check=True).stdout.strip()


def meson_results(build_dir: Path) -> dict[str, str]:
    lines = (build_dir / "meson-logs" / "testlog.json").read_text().splitlines()
    return {t["name"]: t["result"] for t in map(json.loads, lines)}


def ctest_results(b: Build) -> dict[str, str]:
    """ctest's results. json-c's tests run under valgrind when it is installed (as on every
    machine of this workplace; USE_VALGRIND in its tests/test-defs.sh), and Debian's
    valgrind 3.19 cannot read the DWARF 5 of Debian's clang 14 ("Possibly corrupted
    debuginfo file ... Giving up"): with clang, all 23 fail in the bare build as much as
    through linkpool. So with clang they run without valgrind."""
    junit = b.root / "ctest.xml"
    env = {"USE_VALGRIND": "0"} if b.cc == "clang" else {}
    b.run([CTEST, "--test-dir", str(b.tree), "-j2", "--output-junit", str(junit)], env=env,
          timed=False)
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    return {c.get("name", ""): c.get("status", "") for c in cases}


def build_meson(b: Build) -> None:
    """Meson (plain): fribidi. Meson picks the machine's sccache for compiles when CC is
    not set; both builds set it (a warm cache would make the second build faster)."""
    b.env.update(CC=b.cc, CXX=b.cxx)
    files = ["--native-file", meson_native_file(b)] if b.recipe else []
    b.run([MESON, "setup", str(b.tree), str(b.src), "-Ddocs=false", *files])
    out = b.run([MESON, "compile", "-C", str(b.tree)])
    b.links = out.count("] Linking target ")
    b.run([MESON, "test", "-C", str(b.tree), "--num-processes", "2"], timed=False)
    b.tests = meson_results(b.tree)


def cmake_build(generator: str, *options: str, rewriter: bool = False
                ) -> Callable[[Build], None]:
    """CMake with GENERATOR: linkpool as the linker launcher (docs/cmake.md), or with
    ``rewriter`` the build run by `linkpool ninja` (docs/ninja.md). CMake 4 refuses these
    projects' `cmake_minimum_required` below 3.5 without the policy floor its error names.
    The compiler is named for both languages (a C project ignores the C++ one)."""
    def build(b: Build) -> None:
        launcher = []
        if b.recipe and not rewriter:
            launcher = shlex.split(lp("setup", "cmake", check=True).stdout)
        b.run([CMAKE, "-S", str(b.src), "-B", str(b.tree), "-G", generator,
               f"-DCMAKE_MAKE_PROGRAM={NINJA if generator == 'Ninja' else 'make'}",
               f"-DCMAKE_C_COMPILER={b.cc}", f"-DCMAKE_CXX_COMPILER={b.cxx}",
               "-DCMAKE_POLICY_VERSION_MINIMUM=3.5", *options, *launcher])
        if rewriter:
            ninja = [LINKPOOL, "ninja"] if b.recipe else [NINJA]
            out = b.run([*ninja, "-C", str(b.tree), "-j2"])
        else:
            out = b.run([CMAKE, "--build", str(b.tree), "-j2"])
        b.links = len(CMAKE_LINK.findall(out))
        b.tests = ctest_results(b)
    return build


def build_automake(b: Build) -> None:
    """Automake and make: GNU hello, configured in a build folder of its own, with
    `linkpool setup make --automake` (CCLD, CXXLD) on make's command line."""
    b.tree.mkdir()
    b.run([str(b.src / "configure"), f"CC={b.cc}", f"CXX={b.cxx}"], cwd=b.tree)
    ld = shlex.split(lp("setup", "make", "--automake", check=True).stdout) if b.recipe else []
    out = b.run(["make", "-j2", "V=0", *ld], cwd=b.tree)
    out += b.run(["make", "-j2", "V=0", *ld, "check"], cwd=b.tree, timed=False)
    b.links = sum(line.split()[:1] in (["CCLD"], ["CXXLD"]) for line in out.splitlines())
    results = [line.split(": ", 1) for line in out.splitlines()]
    b.tests = {r[1]: r[0] for r in results
               if len(r) == 2 and r[0] in ("PASS", "FAIL", "SKIP", "XFAIL", "XPASS", "ERROR")}


def build_scons(b: Build) -> None:
    """SCons: Apache serf, its own SConstruct, with Debian's patches (py3-compat for SCons
    4). Through linkpool, the SConstruct gets the linkpool tool in its tools list, as
    docs/scons.md says to add it. The compiler is serf's `CC=` variable. Through the
    switch, nothing changes: SCons runs its commands with an environment of its own, a
    PATH, so COMPILER_PATH does not reach its links (docs/shims.md), and serf's
    SConstruct takes no variable that would give SCons the caller's environment."""
    b.tree = b.src
    if b.recipe:
        sconstruct = b.src / "SConstruct"
        text = sconstruct.read_text()
        text = text.replace("\nimport sys\n", "\nimport sys\nfrom linkpool.integrations "
                            "import scons as linkpool_scons\n", 1)
        text = text.replace("tools=('default', 'textfile',)",
                            "tools=('default', 'textfile', linkpool_scons.generate)", 1)
        assert text.count("linkpool_scons") == 2, "serf's SConstruct changed"
        sconstruct.write_text(text)
    apr = ["APR=/usr/bin/apr-1-config", "APU=/usr/bin/apu-1-config", f"CC={b.cc}"]
    out = b.run([SCONS, "-j2", *apr])
    # serf 1.3.9's SSL tests fail with OpenSSL 3 (17 of 66; Debian's own build ignores
    # the check's status for that reason): the builds must agree on which fail.
    check = b.run([SCONS, "-j2", *apr, "check"], timed=False, check=False)
    failed = sorted(line.split(":")[0].split(") ", 1)[1] for line in check.splitlines()
                    if re.match(r"\d+\) test_\w+:", line))
    summary = [line for line in check.splitlines()
               if line.startswith(("Runs:", "OK (", "== Testing"))]
    b.tests = {"exit": b.status, "summary": summary, "failed": failed}
    b.links = 0
    for line in (out + check).splitlines():
        words = line.split()
        if words[:1] == [LINKPOOL]:
            words = words[1:]
        b.links += words[:1] == [b.cc] and "-o" in words and "-c" not in words


def build_setuptools(b: Build) -> None:
    """setuptools with a C extension: markupsafe, whose setup.py falls back to pure Python
    when the extension does not build, so the import below proves it is there. Through
    linkpool: `eval "$(linkpool setup setuptools)"` (docs/recipes.md): CC, CXX, LDSHARED
    and LDCXXSHARED with linkpool in front (of the compiler chosen by CC and CXX)."""
    b.env.update(CC=b.cc, CXX=b.cxx)
    env = {}
    if b.recipe:
        exports = lp("setup", "setuptools", "--python", sys.executable, env=b.env,
                     check=True).stdout
        for line in exports.splitlines():
            word, assignment = shlex.split(line)
            assert word == "export", line
            name, value = assignment.split("=", 1)
            env[name] = value
        assert sorted(env) == ["CC", "CXX", "LDCXXSHARED", "LDSHARED"], exports
    out = b.pip_wheel(env=env)
    b.links = sum(" -shared " in line and " -o " in line for line in out.splitlines())
    b.tests = b.import_from_wheel(
        "import markupsafe, markupsafe._speedups as s\n"
        "print(s.__file__)\n"
        "print(markupsafe.escape('<a href=\"x\">&</a>'), s._escape_inner('<&>'))\n")


def build_mesonpy(b: Build) -> None:
    """meson-python: cysignals (Cython, five extension modules, Meson link checks), with
    the native file given through `-Csetup-args` (docs/meson.md)."""
    b.env.update(CC=b.cc, CXX=b.cxx)  # no sccache, as in build_meson
    settings = [f"-Csetup-args=--native-file={meson_native_file(b)}"] if b.recipe else []
    out = b.pip_wheel(*settings)
    b.links = out.count("] Linking target ")
    b.tests = b.import_from_wheel(
        "import cysignals.alarm, cysignals.pselect, cysignals.pysignals, cysignals.signals\n"
        "from cysignals import tests\n"
        "print(cysignals.signals.__file__)\n"
        "print(repr(tests.test_sig_on_cython()), repr(tests.test_sig_on_cython_except()))\n"
        "tests.test_sig_retry()\n"
        "print('ok')\n")


def build_skbuild(b: Build) -> None:
    """scikit-build-core: mapbox_earcut (nanobind, one C++ module), with
    CMAKE_ARGS="$(linkpool setup cmake)"."""
    b.env.update(CC=b.cc, CXX=b.cxx)
    env = {"CMAKE_ARGS": lp("setup", "cmake", check=True).stdout.strip()} if b.recipe else {}
    out = b.pip_wheel(env=env)
    b.links = len(CMAKE_LINK.findall(out))
    b.tests = b.import_from_wheel(
        "import mapbox_earcut, mapbox_earcut._core as core\n"
        "print(core.__file__, mapbox_earcut.__version__)\n")


def build_cargo(b: Build) -> None:
    """Cargo with Debian's cargo and rustc, offline: the fnv crate. Through linkpool:
    `eval "$(linkpool setup cargo)"` (docs/recipes.md), which names linkpool's shim as the
    target's linker. Cargo 0.66 does not give that linker to rustdoc for the doc-tests,
    so they get the same shim with `RUSTDOCFLAGS=-C linker=...`. Through the switch, rustc
    and rustdoc run `cc` (gcc, whatever the compiler of the run), which finds its linker
    in COMPILER_PATH."""
    b.tree = b.src / "target"
    b.env.update(CARGO_HOME=str(b.root / "cargo-home"), RUSTC=RUSTC, RUSTDOC=RUSTDOC)
    if b.recipe:
        shims = ["setup", "cargo", "--shim-dir", str(b.root / "shim")]
        word, assignment = shlex.split(lp(*shims, env=b.env, check=True).stdout)
        assert word == "export", assignment
        name, shim = assignment.split("=", 1)
        assert lp(*shims, "--format", "path", env=b.env, check=True).stdout.strip() == shim
        b.env.update({name: shim, "RUSTDOCFLAGS": f"-C linker={shim}"})
    b.run([CARGO, "build", "--offline"])
    b.run([CARGO, "test", "--offline", "--no-run"])
    out = b.run([CARGO, "test", "--offline"], timed=False)
    b.tests = dict(re.findall(r"^test (.+) \.\.\. (\w+)$", out, re.M))
    doctests = [name for name in b.tests if " - (line " in name]
    b.links = len(b.linked()) + len(doctests)  # each doc-test is linked on its own


class Project:
    def __init__(self, name: str, version: str, origin: str, system: str, recipe: str,
                 fetch: Callable[[], Path], unpack: Callable[[Path, Path], Path],
                 build: Callable[[Build], None], ci: bool = False, checks: str = "",
                 bypass: str = "", linker_driver: str = "") -> None:
        self.name, self.version, self.origin, self.system = name, version, origin, system
        self.recipe, self.ci = recipe, ci
        self.checks = checks  # what the import from the wheel shows, for the table
        self.bypass = bypass  # why the switch does not reach this build's links, if not
        self.linker_driver = linker_driver  # what drives the links, if not the compiler
        self._fetch, self._unpack, self.build = fetch, unpack, build
        self._source: Path | None = None

    def unpack(self, into: Path) -> Path:
        if self._source is None:
            self._source = self._fetch()
        return self._unpack(self._source, into)


def from_orig(dsc: Path, into: Path) -> Path:
    return unpack_tar(orig_of(dsc), into)


def with_debian_patches(dsc: Path, into: Path) -> Path:
    done = _run_quiet(["dpkg-source", "--no-check", "-x", str(dsc), str(into)], dsc.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    return into


def debian(package: str, version: str, whole: bool = False) -> Callable[[], Path]:
    return lambda: debian_source(package, version, whole)


def pypi(name: str, version: str) -> Callable[[], Path]:
    return lambda: pypi_sdist(name, version)


BOOKWORM = "Debian bookworm"
PROJECTS = [
    Project("fribidi", "1.0.8", f"{BOOKWORM} fribidi 1.0.8-2.1, .orig", "Meson, `meson test`",
            "`meson setup --native-file \"$(linkpool setup meson --output linkpool.ini)\"`",
            debian("fribidi", "1.0.8-2.1"), from_orig, build_meson, ci=True),
    Project("json-c", "0.16", f"{BOOKWORM} json-c 0.16-2, .orig", "CMake, Ninja, `ctest`",
            "`cmake -G Ninja $(linkpool setup cmake)`",
            debian("json-c", "0.16-2"), from_orig, cmake_build("Ninja")),
    Project("cJSON", "1.7.15", f"{BOOKWORM} cjson 1.7.15-1+deb12u4, .orig",
            "CMake, Unix Makefiles, `ctest`",
            "`cmake -G \"Unix Makefiles\" $(linkpool setup cmake)`",
            debian("cjson", "1.7.15-1+deb12u4"), from_orig, cmake_build("Unix Makefiles")),
    Project("jansson", "2.14", f"{BOOKWORM} jansson 2.14-2, .orig",
            "CMake, Ninja, `ctest`",
            "the ninja rewriter: `cmake -G Ninja`, then `linkpool ninja -C build`",
            debian("jansson", "2.14-2"), from_orig,
            cmake_build("Ninja", "-DJANSSON_BUILD_SHARED_LIBS=ON", rewriter=True), ci=True),
    Project("GNU hello", "2.10", f"{BOOKWORM} hello 2.10-3, .orig", "Automake, `make check`",
            "`make $(linkpool setup make --automake)`: `CCLD='linkpool $(CC)'`, `CXXLD=...`",
            debian("hello", "2.10-3"), from_orig, build_automake),
    Project("serf", "1.3.9", f"{BOOKWORM} serf 1.3.9-11, Debian's patches", "SCons, `scons check`",
            "SConstruct: `tools=(..., linkpool_scons.generate)` (docs/scons.md)",
            debian("serf", "1.3.9-11", whole=True), with_debian_patches, build_scons,
            bypass="SCons clears the environment (docs/shims.md)"),
    Project("markupsafe", "3.0.4", "PyPI sdist", "setuptools C extension, `pip wheel`",
            "`eval \"$(linkpool setup setuptools)\"; pip wheel .`",
            pypi("markupsafe", "3.0.4"), unpack_tar, build_setuptools, ci=True,
            checks="`_speedups` imports from the wheel and escapes"),
    Project("cysignals", "1.12.5", "PyPI sdist", "meson-python, `pip wheel`",
            "`pip wheel . -Csetup-args=--native-file=$PWD/linkpool.ini`",
            pypi("cysignals", "1.12.5"), unpack_tar, build_mesonpy,
            checks="the 5 modules import from the wheel; 3 of its signal tests"),
    Project("mapbox_earcut", "2.1.0", "PyPI sdist", "scikit-build-core, `pip wheel`",
            "`CMAKE_ARGS=\"$(linkpool setup cmake)\" pip wheel .`",
            pypi("mapbox_earcut", "2.1.0"), unpack_tar, build_skbuild,
            checks="`_core` imports from the wheel"),
    Project("fnv", "1.0.7", f"{BOOKWORM} rust-fnv 1.0.7-1, .orig",
            "Cargo (Debian's cargo 0.66, rustc 1.63), `cargo test --offline`",
            "`eval \"$(linkpool setup cargo)\"`, and for the doc-tests "
            "`RUSTDOCFLAGS=\"-C linker=$(linkpool setup cargo --format path)\"`",
            debian("rust-fnv", "1.0.7-1"), from_orig, build_cargo,
            linker_driver="`cc` (gcc)"),
]
#: The quick project the normal suite also builds through the switch, with gcc and clang:
#: CMake's compiler checks and try_compile, then ninja, 20 links (a shared library), ctest.
SWITCH_CI = "jansson"


def selected() -> list[Any]:
    """(project, route, compiler): with LINKPOOL_REALWORLD=all, or a route or compiler
    named, every project (or the quick ones) by that route with that compiler; else the
    normal suite's: the quick ones by their recipes with gcc, and SWITCH_CI through the
    switch with gcc and with clang."""
    if FULL or ROUTE or COMPILER:
        runs = [(p, ROUTE or "recipe", COMPILER or "gcc") for p in PROJECTS if FULL or p.ci]
    else:
        runs = [(p, "recipe", "gcc") for p in PROJECTS if p.ci]
        runs += [(p, "switch", c) for p in PROJECTS if p.name == SWITCH_CI for c in COMPILERS]
    return [pytest.param(p, route, compiler, id=f"{p.name.replace(' ', '-')}-{route}-{compiler}",
                         marks=[pytest.mark.realworld_ci] if p.ci else [])
            for p, route, compiler in runs]


SELECTED = selected()


# --- the comparison ---------------------------------------------------------------------

def is_probe(record: dict[str, Any]) -> bool:
    """A link of a configure-time check, not one of the build's own: Meson's sanity checks
    and cc.links() (meson-private/), SCons's Configure (.sconf_temp/), and through the
    switch also CMake's compiler identification and try_compile (CMakeFiles/) and
    Autoconf's checks (a.out, conftest)."""
    path = Path(record["output"] or "")
    return bool(PROBE_DIRS.intersection(path.parts)) or path.name in PROBE_FILES


def driver_of(record: dict[str, Any]) -> str:
    """Which driver ran this linker command: gcc hands ld its LTO plugin on every link,
    clang only for -flto (which none of these projects uses)."""
    return "gcc" if any("liblto_plugin" in word for word in record["command"]) else "clang"


@pytest.mark.parametrize(("project", "route", "compiler"), SELECTED)
def test_bare_and_linkpool_builds_agree(project: Project, route: str, compiler: str,
                                        tmp_path: Path) -> None:
    if project.build is build_cargo and not (os.access(CARGO, os.X_OK)
                                             and os.access(RUSTC, os.X_OK)):
        pytest.skip("Debian's cargo and rustc are not installed (bash scripts/setup.sh "
                    "--realworld installs them)")
    skipped = False
    result: dict[str, Any] = {
        "project": project.name, "version": project.version, "origin": project.origin,
        "system": project.system, "recipe": project.recipe, "route": route,
        "compiler": compiler, "driver": project.linker_driver or compiler, "result": "FAIL"}
    try:
        bare = Build(project, tmp_path / "bare", None, route, compiler)
        project.build(bare)
        pool = make_pool(tmp_path / "pool", 2)
        pooled = Build(project, tmp_path / "linkpool", pool, route, compiler)
        project.build(pooled)
        result.update(bare_s=round(bare.seconds, 1), linkpool_s=round(pooled.seconds, 1))

        # The same artefacts, each an ELF file of the same type.
        bare_files, pooled_files = bare.artefacts(), pooled.artefacts()
        assert pooled_files == bare_files, {
            "only bare": sorted(set(bare_files) - set(pooled_files)),
            "only linkpool": sorted(set(pooled_files) - set(bare_files)),
            "other type": sorted(n for n in bare_files.keys() & pooled_files.keys()
                                 if bare_files[n] != pooled_files[n])}
        assert pooled.linked(), "the build linked nothing?"

        # The same results from the project's own tests.
        assert bare.tests, "the project's tests gave no results"
        assert pooled.tests == bare.tests

        # Every link the build system ran is in the history, and only those (the
        # configure-time checks' links are counted apart).
        everything = history(pool)
        records = [r for r in everything if not is_probe(r)]
        assert all(r["kind"] == "link" for r in everything), everything
        assert all(r["exit"] == 0 for r in records), [r for r in records if r["exit"]]
        assert bare.links == pooled.links > 0
        result.update(links=len(records), build_links=pooled.links,
                      probes=len(everything) - len(records))
        if route == "switch":
            # The real linker ran in the pool (not a driver, not a shim), run by the
            # driver of the chosen compiler.
            assert pooled.shims is not None
            for r in everything:
                assert os.path.basename(r["command"][0]).startswith("ld"), r["command"][:3]
                assert not r["command"][0].startswith(pooled.shims + os.sep), r["command"][0]
            want = "gcc" if project.linker_driver else compiler
            assert {driver_of(r) for r in records} <= {want}, \
                [(r["output"], driver_of(r)) for r in records]
        if route == "switch" and project.bypass:
            # By design: not one link reached the pool, nor a check's.
            assert everything == [], [r["output"] for r in everything]
        else:
            assert len(records) == pooled.links, [r["output"] for r in records]
            outputs = {r["output"] for r in records}
            if pooled.wheel is not None:
                outputs = {os.path.basename(o) for o in outputs}
            assert pooled.linked() <= outputs, sorted(pooled.linked() - outputs)

        # No traceback anywhere, and linkpool said nothing (quiet: no warning, no error).
        for log in bare.logs + pooled.logs:
            assert "Traceback" not in log and "linkpool: internal error" not in log, log[-4000:]
        for log in pooled.logs:
            said = [line for line in log.splitlines() if line.startswith("linkpool:")]
            assert not said, said
        if route == "switch" and project.bypass:
            result["result"] = (f"bypassed: {project.bypass}; none of its {pooled.links} links "
                                f"reached the pool, as expected; "
                                + summary(pooled.tests, project))
        else:
            result["result"] = "pass: " + summary(pooled.tests, project)
    except pytest.skip.Exception:
        skipped = True
        raise
    except Exception as failure:
        first = (str(failure).splitlines() or [""])[0][:120]
        result["result"] = f"FAIL: {type(failure).__name__}: {first}"
        raise
    finally:
        if not skipped:
            record_result(result)


def summary(tests: Any, project: Project) -> str:
    """What the project's own tests said, in a few words, for the table."""
    if isinstance(tests, str):
        return f"same output: {project.checks}"
    if "summary" in tests:  # serf
        runs = [s for s in tests["summary"] if s.startswith(("Runs:", "OK ("))]
        return f"same check results ({'; '.join(runs)}; {len(tests['failed'])} SSL failures)"
    counts: dict[str, int] = {}
    for status in tests.values():
        status = {"run": "passed"}.get(status, status)  # ctest's JUnit "run": it passed
        counts[status] = counts.get(status, 0) + 1
    return "same test results (" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")"


# --- the tables ---------------------------------------------------------------------------

def result_file(project: str, route: str, compiler: str) -> Path:
    return RESULTS / f"{project.replace(' ', '-')}-{route}-{compiler}.json"


def record_result(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result["date"] = time.strftime("%Y-%m-%d")
    result_file(result["project"], result["route"], result["compiler"]).write_text(
        json.dumps(result))
    (RESULTS / "table.md").write_text(table())


SWITCH = '`export COMPILER_PATH="$(linkpool setup shims)"` and nothing else'


def table() -> str:
    """The results of the last run of each project, route and compiler, as two markdown
    tables: by the recipes, and through the switch."""
    today = time.strftime("%Y-%m-%d")
    rows: dict[str, list[str]] = {route: [] for route in ROUTES}
    for route in ROUTES:
        for project in PROJECTS:
            for compiler in COMPILERS:
                path = result_file(project.name, route, compiler)
                if not path.exists():
                    continue
                r = json.loads(path.read_text())
                driver = r["driver"] if compiler in r["driver"] else \
                    f"{r['driver']}: the {compiler} run"
                when = "" if r["date"] == today else f" ({r['date']})"
                first = f"| {r['project']} {r['version']} ({r['origin']}) | {r['system']} | "
                times = " | ".join(f"{r[k]} s" if k in r else ""
                                   for k in ("bare_s", "linkpool_s"))
                if route == "recipe":
                    rows[route].append(f"{first}{r['recipe']} | {driver} | "
                                       f"{r.get('links', '')} | {times} | {r['result']}{when} |")
                else:
                    rows[route].append(f"{first}{driver} | {r.get('links', '')} | "
                                       f"{r.get('probes', '')} | {times} | "
                                       f"{r['result']}{when} |")
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                if line.startswith("model name")), platform.machine())
    text = (f"{today}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}\n")
    if rows["recipe"]:
        text += ("\nBy each build system's recipe:\n\n"
                 "| project (version, source) | build system | recipe | compiler | links "
                 "| bare | linkpool | result |\n"
                 "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
                 + "\n".join(rows["recipe"]) + "\n")
    if rows["switch"]:
        text += (f"\nThrough the switch, {SWITCH}:\n\n"
                 "| project (version, source) | build system | compiler | links "
                 "| check links | bare | switch | result |\n"
                 "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
                 + "\n".join(rows["switch"]) + "\n")
    return text
