"""The `edgeq` command line: a thin layer over the Python API. EdgeqError is caught once, in `main()`.

Commands live in one module per area; importing them here registers them on the group (an explicit list).
"""

from edgeq.cli import build_cmds, compress_cmd, convert_cmd, target_cmds, validate_cmd  # noqa: F401  (registers)
from edgeq.cli.app import cli, main

__all__ = ["cli", "main"]
