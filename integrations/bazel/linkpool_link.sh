#!/bin/sh
# Bazel link actions of the linkpool toolchain run this: `linkpool run -- gcc ARGS`.
# The pool is $LINKPOOL_DIR (pass it with --action_env=LINKPOOL_DIR) or linkpool's own
# default; $LINKPOOL names the linkpool command and $LINKPOOL_CC the driver (both
# optional, also through --action_env). A missing linkpool fails the link loudly
# rather than letting it run ungated.
lp=${LINKPOOL:-linkpool}
if ! command -v "$lp" >/dev/null 2>&1; then
    echo "linkpool_link.sh: '$lp' not found on PATH=$PATH;" \
         "pass --action_env=LINKPOOL=/path/to/linkpool" >&2
    exit 127
fi
exec "$lp" run -- "${LINKPOOL_CC:-gcc}" "$@"
