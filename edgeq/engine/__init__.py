"""edgeq's compiled-C engine: interpreter-free int8 inference code, bit-exact with TFLM.

`generate(model, name)` lowers a TFLite model to C99 calls into edgeq's portable kernels with one
statically planned arena; `write_engine_project(...)` adds a self-checking main.c, a Makefile and CMakeLists.txt.
"""

from edgeq.engine.codegen import EngineBuild, generate
from edgeq.engine.lowering import supported_ops
from edgeq.engine.project import write_engine_project
from edgeq.errors import UnsupportedOpError

__all__ = ["EngineBuild", "UnsupportedOpError", "generate", "supported_ops", "write_engine_project"]
