"""linkpool's built-in behaviour, written as plugins on the hooks of ``linkpool.hookspecs``.

Each is registered under a name, and ``disable = ["name"]`` in the config (or
``LINKPOOL_DISABLE``) switches it off, as for a third-party plugin:

- ``classify``: parses the command line, says link / compile / info, finds the linker;
- ``cost``: estimates a link from its ELF inputs and turns the cost into a weight;
- ``history``: records every job and estimates a repeated link from its last run;
- ``threads``: gives the linker as many threads as the job holds cores;
- ``output-check``: with ``check_output = true``, checks the output is an ELF file.
"""
