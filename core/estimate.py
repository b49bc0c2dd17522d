"""The cost of a link, estimated from its input files before it runs.

``estimate_inputs(paths)`` tells how many bytes of which kind a link reads: sizes always
(``os.stat``); above ``elf_threshold`` also the ELF section headers of every object,
archive member and shared library (code and data, debug info, LTO bytecode).
``expected_memory(est, flavour)`` turns that into the anonymous memory the link adds,
with coefficients measured here (docs/estimate.md: the table and how to redo it).

    est = estimate_inputs(["main.o", "libfoo.a", "libbar.so"])
    need = expected_memory(est, "lld")

Headers are read with ``struct``, not pyelftools (~90 ms to import, ~37 us a section
against ~0.3 us here); never section contents. Nothing here raises, whatever the input:
what cannot be read counts as ``unreadable`` and is estimated from its size; the linker
will report it. This module knows nothing of slots or linker classes: a flavour is an id.
"""

from __future__ import annotations

import os
import stat
import struct
import time
from typing import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["COEFFICIENTS", "Estimate", "estimate_inputs", "expected_memory"]

MAX_TABLE = 64 << 20  # a section header or name table bigger than this is garbage
AR_HEADER = struct.Struct("16s12s6s6s8s10s2s")  # name date uid gid mode size fmag
_EHDR = {1: "HHIIIIIHHHHHH", 2: "HHIQQQIHHHHHH"}  # after e_ident, by EI_CLASS
_SHDR = {1: "III4xIII12x", 2: "IIQ8xQQI20x"}  # name type flags offset size link (by class)
_BITCODE = (b"BC\xc0\xde", b"\xde\xc0\x17\x0b")  # LLVM bitcode; its wrapper (0x0B17C0DE)
_DEBUG = (b".debug_", b".zdebug_")
_DEBUG_RELOC = (b".rela.debug_", b".rel.debug_", b".rela.zdebug_", b".rel.zdebug_")
_SHF_ALLOC, _ET_REL, _ET_DYN = 0x2, 1, 3
_SHT_PROGBITS, _SHT_NOBITS, _SHT_RELOC = 1, 8, (4, 9)  # RELA, REL


class Estimate(NamedTuple):
    """What a link reads. Byte counts but ``input_bytes`` cover the files whose
    headers were read; the rest is known by size alone."""

    input_bytes: int = 0  # every input's size; a thin archive's member files included
    parsed_bytes: int = 0  # objects and bitcode whose headers were read
    alloc_bytes: int = 0  # SHF_ALLOC sections with file contents (.bss has none)
    debug_bytes: int = 0  # .debug_* and .zdebug_* sections
    debug_reloc_bytes: int = 0  # their relocations (.rela.debug_*)
    lto_bytes: int = 0  # .gnu.lto_* sections, and whole LLVM bitcode files
    shared_bytes: int = 0  # shared libraries, whose contents the linker does not copy
    objects: int = 0  # ELF relocatables read, archive members included
    archive_members: int = 0
    lto_objects: int = 0  # objects with GCC LTO sections, and LLVM bitcode files
    shared_libs: int = 0
    unreadable: int = 0  # inputs that could not be read or parsed
    method: str = "sizes"  # "elf": headers read; "sizes": stat only; "mixed": budget out
    seconds: float = 0.0  # time this estimate took


class _Bad(ValueError):
    """An input that is not what its first bytes claim."""


class _Budget(Exception):
    """The time budget is spent: the rest is estimated from sizes."""


class _View:
    """A read-only window ``[base, base + size)`` of an open file (an archive member,
    or a whole file); reads never leave it."""

    __slots__ = ("base", "fd", "size")

    def __init__(self, fd: int, base: int, size: int) -> None:
        self.fd, self.base, self.size = fd, base, size

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0 or offset + n > self.size:
            raise _Bad(f"read of {n} at {offset} outside {self.size} bytes")
        data = os.pread(self.fd, n, self.base + offset)
        if len(data) != n:  # the file shrank under us
            raise _Bad("short read")
        return data


class _Tally:
    """The counts of an estimate being made, and the time its reading must stop."""

    __slots__ = ("deadline", "fields")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fields = dict.fromkeys(Estimate._fields[:-2], 0)

    def add(self, **counts: int) -> None:
        for name, value in counts.items():
            self.fields[name] += value

    def check(self) -> None:
        if time.perf_counter() >= self.deadline:
            raise _Budget


def estimate_inputs(paths: list[str], budget: float = 0.01,
                    elf_threshold: int = 32 << 20) -> Estimate:
    """The estimate of a link of ``paths`` (as given to the linker, -l resolved).

    Below ``elf_threshold`` total bytes only sizes are used (``os.stat``; a ``.a`` is
    opened to size a thin archive's members). Above it, headers are read until
    ``budget`` seconds have passed since the call began; the rest is sized only.
    """
    start = time.perf_counter()
    tally = _Tally(start + budget)
    paths = list(dict.fromkeys(paths))  # a library named twice is read once
    sizes = [_input_size(path) for path in paths]
    tally.add(input_bytes=sum(size for size in sizes if size is not None),
              unreadable=sum(size is None for size in sizes))
    parsed_any = complete = False
    if tally.fields["input_bytes"] >= elf_threshold:
        try:
            for path, size in zip(paths, sizes):
                if size is not None:
                    tally.check()
                    parsed_any = True
                    _read_input(path, tally)
            complete = True
        except _Budget:
            pass
    method = ("elf" if complete else "mixed") if parsed_any else "sizes"
    return Estimate(**tally.fields, method=method, seconds=time.perf_counter() - start)


def _input_size(path: str) -> int | None:
    """The bytes behind ``path``, or None if it is not a regular file we can stat."""
    size = _file_size(path)
    if size is not None and size >= 8 and path.endswith(".a"):
        try:
            fd = _open(path)
            try:
                if os.pread(fd, 8, 0) == b"!<thin>\n":
                    size += sum(_file_size(name) or 0 for name in _thin_members(path, fd))
            finally:
                os.close(fd)
        except Exception:  # never raise: a corrupt archive is the linker's to report
            pass
    return size


def _file_size(path: str) -> int | None:
    """st_size of a regular file; None for anything else (a FIFO is never opened)."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _open(path: str) -> int:
    """A read-only descriptor of the regular file ``path``. O_NONBLOCK: a FIFO swapped in
    after the stat cannot block us; the fstat refuses it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _Bad("not a regular file")
    return fd


def _read_input(path: str, tally: _Tally, top: bool = True) -> None:
    """Add one input to ``tally``: an object, a shared library, an archive (``top``)."""
    try:
        fd = _open(path)
        try:
            view = _View(fd, 0, os.fstat(fd).st_size)
            magic = view.read(0, min(8, view.size))
            if top and magic == b"!<arch>\n":
                _read_archive(view, tally)
            elif top and magic == b"!<thin>\n":
                for member in _thin_members(path, fd):
                    tally.check()
                    tally.add(archive_members=1)
                    _read_input(member, tally, top=False)
            else:
                _read_member(view, tally)
        finally:
            os.close(fd)
    except _Budget:
        raise
    except Exception:  # never raise: missing, garbage, truncated, a bogus archive
        tally.add(unreadable=1)


def _read_archive(view: _View, tally: _Tally) -> None:
    """Each member of a regular archive, read through a view limited to it."""
    for name, data, size in _ar_headers(view, thin=False):
        if _special(name):
            continue
        tally.check()
        tally.add(archive_members=1)
        try:
            _read_member(_View(view.fd, view.base + data, size), tally)
        except (ValueError, OSError, struct.error):  # _Bad is a ValueError
            tally.add(unreadable=1)


def _read_member(view: _View, tally: _Tally) -> None:
    """An ELF object or shared library, or an LLVM bitcode file; _Bad if none."""
    head = view.read(0, min(64, view.size))
    if head[:4] in _BITCODE:
        tally.add(parsed_bytes=view.size, lto_bytes=view.size, lto_objects=1)
        return
    if head[:4] != b"\x7fELF":
        raise _Bad("not ELF")
    e_type, alloc, debug, reloc, lto = _elf_sections(view, head)
    if e_type == _ET_DYN:
        tally.add(shared_libs=1, shared_bytes=view.size)
    elif e_type == _ET_REL:
        tally.add(objects=1, parsed_bytes=view.size, alloc_bytes=alloc, debug_bytes=debug,
                  debug_reloc_bytes=reloc, lto_bytes=lto, lto_objects=lto > 0)
    else:
        raise _Bad("an ELF executable or core file is no link input")


def _elf_sections(view: _View, head: bytes) -> tuple[int, int, int, int, int]:
    """(e_type, alloc, debug, debug relocation, LTO bytes) from an ELF file's section
    headers: one read of the table, one of the section names."""
    elf_class, data = head[4], head[5]
    if elf_class not in _EHDR or data not in (1, 2):
        raise _Bad("bad ELF class or data encoding")
    order = "<" if data == 1 else ">"
    ehdr = struct.unpack_from(order + _EHDR[elf_class], head, 16)
    e_type, shoff, shentsize, shnum, shstrndx = ehdr[0], ehdr[5], *ehdr[10:]
    if shoff == 0 or e_type != _ET_REL:  # a shared library: its sections are not copied
        return e_type, 0, 0, 0, 0
    shdr = struct.Struct(order + _SHDR[elf_class])
    if shentsize != shdr.size:
        raise _Bad("bad section header size")
    if shnum == 0 or shstrndx == 0xFFFF:  # 0xff00 sections or more: sh_size, sh_link of 0
        first = shdr.unpack(view.read(shoff, shdr.size))
        shnum, shstrndx = shnum or first[4], first[5] if shstrndx == 0xFFFF else shstrndx
    if shnum * shdr.size > MAX_TABLE:
        raise _Bad("section header table too big")
    headers = list(shdr.iter_unpack(view.read(shoff, shnum * shdr.size)))
    names = b""
    if 0 < shstrndx < shnum and headers[shstrndx][4] <= MAX_TABLE:
        names = view.read(headers[shstrndx][3], headers[shstrndx][4])
    alloc = debug = reloc = lto = 0
    for name, sh_type, flags, offset, size, _ in headers:
        if sh_type == _SHT_NOBITS or sh_type == 0:  # no bytes in the file
            continue
        if offset + size > view.size:
            raise _Bad("section outside the file")
        if flags & _SHF_ALLOC:
            alloc += size
        elif sh_type == _SHT_PROGBITS:  # only these need their names looked at
            if names.startswith(_DEBUG, name):
                debug += size
            elif names.startswith(b".gnu.lto_", name):
                lto += size
        elif sh_type in _SHT_RELOC and names.startswith(_DEBUG_RELOC, name):
            reloc += size
    return e_type, alloc, debug, reloc, lto


def _ar_headers(view: _View, thin: bool) -> Iterator[tuple[bytes, int, int]]:
    """(name field, data offset, size) of each member header of an ar archive.

    The data of a thin archive's members is in their own files: only its symbol and
    long-name tables have data here. _Bad on a corrupt header or a size past the end.
    """
    offset = 8
    while offset + AR_HEADER.size <= view.size:
        name, *_, size_field, fmag = AR_HEADER.unpack(view.read(offset, AR_HEADER.size))
        if fmag != b"`\n" or not size_field.strip().isdigit():
            raise _Bad("bad ar member header")
        size, data = int(size_field), offset + AR_HEADER.size
        offset = data
        if not thin or _special(name):
            if data + size > view.size:
                raise _Bad("ar member past the end of the archive")
            offset += size + (size & 1)
        yield name, data, size


def _special(name: bytes) -> bool:
    """The symbol table (``/``, ``/SYM64/``) or the GNU long-name table (``//``)."""
    return name.startswith(b"/") and name[1:2] in (b" ", b"/", b"S")


def _thin_members(path: str, fd: int) -> list[str]:
    """The member files of the GNU thin archive ``path`` (open as ``fd``)."""
    view = _View(fd, 0, min(os.fstat(fd).st_size, MAX_TABLE))
    long_names, files = b"", []
    for name, data, size in _ar_headers(view, thin=True):
        if name.startswith(b"//"):
            long_names = view.read(data, size)
            continue
        if _special(name):
            continue
        raw = name.rstrip(b" ")
        if raw[:1] == b"/" and raw[1:].isdigit():  # /N: the name is at offset N of the // table
            start = int(raw[1:])
            raw = long_names[start:long_names.find(b"\n", start)]
        member = os.fsdecode(raw[:-1] if raw.endswith(b"/") else raw)
        files.append(os.path.join(os.path.dirname(path), member))
    return files


# -- memory ----------------------------------------------------------------------------

# Anonymous bytes a link adds, by linker flavour: (constant, per byte of code, data,
# symbols and relocations, per byte of debug info and its relocations, per byte of an
# input known by its size only). Fitted on the links measured in docs/estimate.md.
COEFFICIENTS: dict[str, tuple[float, float, float, float]] = {
    "bfd": (14.1e6, 3.770, 0.844, 2.046),
    "gold": (5.4e6, 1.487, 0.037, 0.477),
    "lld": (13.6e6, 1.194, 0.022, 0.368),
    "mold": (7.6e6, 0.754, 0.087, 0.310),
}
COEFFICIENTS["generic"] = tuple(map(max, *COEFFICIENTS.values()))  # type: ignore[assignment]
# LTO: once per link with LTO inputs, and per byte of bytecode (gcc's lto1 processes).
LTO_BASE, K_LTO = 28.3e6, 4.293


def expected_memory(est: Estimate, flavour: str) -> int:
    """Peak anonymous memory (bytes) a link of ``est`` is expected to add, for linker
    flavour ``flavour`` ("bfd", "gold", "lld", "mold"; anything else: "generic", the
    largest of each coefficient).

    Page cache of the inputs and of the output is not counted: most of a linker's RSS,
    but shared and reclaimable. Inputs known by size only are priced at the average of
    those whose headers were read, or by the flavour's per-byte figure if none were.
    """
    const, k_code, k_debug, k_sized = COEFFICIENTS.get(flavour, COEFFICIENTS["generic"])
    debug = est.debug_bytes + est.debug_reloc_bytes
    code = max(0, est.parsed_bytes - debug - est.lto_bytes)
    rest = max(0, est.input_bytes - est.parsed_bytes - est.shared_bytes)
    if est.parsed_bytes:
        variable = (k_code * code + k_debug * debug + K_LTO * est.lto_bytes) * (
            1 + rest / est.parsed_bytes)
    else:
        variable = k_sized * rest
    return int(const + (LTO_BASE if est.lto_objects else 0) + variable)
