"""A gcc cc toolchain whose link actions go through linkpool.

Compiles, archives and everything else run the plain tools (tool_paths); the three
actions that link (executables, shared libraries, the nodeps .so of a cc_library) run
`linkpool_link.sh`, which execs `linkpool run -- gcc "$@"`. Written for the Bazel 4 API
(Debian's bazel-bootstrap 4.2.3) and without @rules_cc, so it loads only @bazel_tools.
"""

load("@bazel_tools//tools/build_defs/cc:action_names.bzl", "ACTION_NAMES")
load(
    "@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl",
    "action_config",
    "feature",
    "flag_group",
    "flag_set",
    "tool",
    "tool_path",
    "with_feature_set",
)

_COMPILE_ACTIONS = [
    ACTION_NAMES.assemble,
    ACTION_NAMES.preprocess_assemble,
    ACTION_NAMES.c_compile,
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
    ACTION_NAMES.linkstamp_compile,
]

_CXX_ACTIONS = [
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
    ACTION_NAMES.linkstamp_compile,
]

# The link actions that linkpool gates. Static archives (c++-link-static-library and
# friends) are `ar`, cheap and untouched.
LINK_ACTIONS = [
    ACTION_NAMES.cpp_link_executable,
    ACTION_NAMES.cpp_link_dynamic_library,
    ACTION_NAMES.cpp_link_nodeps_dynamic_library,
]

# An action_config replaces Bazel's built-in ("legacy") one for the same action, and
# with it the list of legacy features that one turned on: name them again here, or the
# link line loses its -o, its inputs, its -shared.
_LINK_IMPLIES = [
    "strip_debug_symbols",
    "linkstamps",
    "output_execpath_flags",
    "runtime_library_search_directories",
    "library_search_directories",
    "libraries_to_link",
    "force_pic_flags",
    "user_link_flags",
    "legacy_link_flags",
    "linker_param_file",
    "fission_support",
    "sysroot",
]

def _impl(ctx):
    gcc = ctx.attr.gcc
    tool_paths = [
        tool_path(name = "gcc", path = gcc),
        tool_path(name = "cpp", path = "/usr/bin/cpp"),
        tool_path(name = "ar", path = "/usr/bin/ar"),
        tool_path(name = "ld", path = "/usr/bin/ld"),
        tool_path(name = "nm", path = "/usr/bin/nm"),
        tool_path(name = "objcopy", path = "/usr/bin/objcopy"),
        tool_path(name = "objdump", path = "/usr/bin/objdump"),
        tool_path(name = "strip", path = "/usr/bin/strip"),
        tool_path(name = "gcov", path = "/usr/bin/gcov"),
        tool_path(name = "dwp", path = "/usr/bin/dwp"),
        tool_path(name = "llvm-cov", path = "/bin/false"),
    ]

    # The wrapper, as a path relative to this toolchain's package (so it is found both
    # as //:linkpool_link.sh and as external/<repo>/linkpool_link.sh).
    wrapper = ctx.file.link_wrapper.basename
    link_action_configs = [
        action_config(
            action_name = name,
            enabled = True,
            tools = [tool(path = wrapper)],
            implies = _LINK_IMPLIES + (
                ["shared_flag"] if name != ACTION_NAMES.cpp_link_executable else []
            ),
        )
        for name in LINK_ACTIONS
    ]

    features = [
        feature(name = "supports_pic", enabled = True),
        feature(name = "supports_dynamic_linker", enabled = True),
        feature(name = "supports_param_files", enabled = True),
        feature(name = "dbg"),
        feature(name = "opt"),
        feature(
            name = "default_compile_flags",
            enabled = True,
            flag_sets = [
                flag_set(
                    actions = _COMPILE_ACTIONS,
                    flag_groups = [flag_group(flags = [
                        "-U_FORTIFY_SOURCE",
                        "-fstack-protector",
                        "-Wall",
                        "-fno-omit-frame-pointer",
                        # reproducible outputs, as Bazel's own toolchain does
                        "-fno-canonical-system-headers",
                        "-Wno-builtin-macro-redefined",
                        "-D__DATE__=\"redacted\"",
                        "-D__TIMESTAMP__=\"redacted\"",
                        "-D__TIME__=\"redacted\"",
                    ])],
                ),
                flag_set(
                    actions = _COMPILE_ACTIONS,
                    flag_groups = [flag_group(flags = ["-g"])],
                    with_features = [with_feature_set(features = ["dbg"])],
                ),
                flag_set(
                    actions = _COMPILE_ACTIONS,
                    flag_groups = [flag_group(flags = [
                        "-g0",
                        "-O2",
                        "-D_FORTIFY_SOURCE=1",
                        "-DNDEBUG",
                        "-ffunction-sections",
                        "-fdata-sections",
                    ])],
                    with_features = [with_feature_set(features = ["opt"])],
                ),
                flag_set(
                    actions = _CXX_ACTIONS,
                    flag_groups = [flag_group(flags = ["-std=c++17"])],
                ),
            ],
        ),
        feature(
            name = "default_link_flags",
            enabled = True,
            flag_sets = [
                flag_set(
                    actions = LINK_ACTIONS,
                    flag_groups = [flag_group(flags = [
                        "-Wl,-no-as-needed",
                        "-Wl,-z,relro,-z,now",
                        "-pass-exit-codes",
                        "-lstdc++",
                        "-lm",
                    ])],
                ),
                flag_set(
                    actions = LINK_ACTIONS,
                    flag_groups = [flag_group(flags = ["-Wl,--gc-sections"])],
                    with_features = [with_feature_set(features = ["opt"])],
                ),
            ],
        ),
    ]

    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        toolchain_identifier = "linkpool-gcc",
        host_system_name = "local",
        target_system_name = "local",
        target_cpu = "k8",
        target_libc = "local",
        compiler = "gcc",
        abi_version = "local",
        abi_libc_version = "local",
        action_configs = link_action_configs,
        features = features,
        tool_paths = tool_paths,
        # Prefixes: the gcc, libstdc++ and libc headers of any Debian/Ubuntu gcc.
        cxx_builtin_include_directories = [
            "/usr/lib/gcc/",
            "/usr/local/include",
            "/usr/include",
        ],
    )

linkpool_cc_toolchain_config = rule(
    implementation = _impl,
    attrs = {
        "gcc": attr.string(default = "/usr/bin/gcc"),
        "link_wrapper": attr.label(allow_single_file = True, mandatory = True),
    },
    provides = [CcToolchainConfigInfo],
)
