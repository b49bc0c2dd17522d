#!/bin/sh
# Bazel link actions of the linkpool toolchain run this: `linkpool run -- gcc ARGS`.
# The pool is $LINKPOOL_DIR (pass it with --action_env=LINKPOOL_DIR) or linkpool's own
# default; $LINKPOOL names the linkpool command and $LINKPOOL_CC the driver (both
# optional, also through --action_env; `linkpool setup bazel` prints all the flags).
# linkpool is never why a link fails: if it cannot be found, the link runs without it,
# after one warning line.
lp=${LINKPOOL:-linkpool}
cc=${LINKPOOL_CC:-gcc}
if ! command -v "$lp" >/dev/null 2>&1; then
    echo "linkpool: warning: '$lp' not found on PATH=$PATH (pass" \
         "--action_env=LINKPOOL=/path/to/linkpool); running the link without linkpool" >&2
    exec "$cc" "$@"
fi
exec "$lp" run -- "$cc" "$@"
