"""TensorFlow Lite Micro for `edgeq verify`: a tree made by tflite-micro's create_tflm_tree.py, checked, and its
static library for a target's core, compiled once and cached by the tree's content and the compile flags.

The compile settings are data (edgeq/data/tflm_build.toml), shared with the TFLM CMake template, so the
firmware edgeq runs is compiled like the project a user builds. The first build of a library compiles a few
hundred TFLM and CMSIS-NN files (about 25 minutes on 2 cores); later verifications reuse it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from edgeq.check.targets import TargetProfile
from edgeq.emit.sources import tflm_build_context
from edgeq.emit.tflm_build import build_settings
from edgeq.emulate.plugin import cache_dir
from edgeq.emulate.tools import Toolchain, run_tool
from edgeq.errors import ToolMissingError, VerifyError
from edgeq.render import render

TREE_ENV = "EDGEQ_TFLM_TREE"
DEVICE_TEMPLATE = "_emulate/edgeq_cmsis_device.h.j2"  # the tflm-cmake project carries it too
HOW_TO_GET = ("make one from a tflite-micro checkout with `python3 tensorflow/lite/micro/tools/project_generation/"
              "create_tflm_tree.py --makefile_options=\"TARGET=cortex_m_generic OPTIMIZED_KERNEL_DIR=cmsis_nn "
              "TARGET_ARCH=project_generation TARGET_TOOLCHAIN_ROOT=/usr/bin/\" TREE_DIR` (see README.md, "
              "\"Verifying on an emulated board (`edgeq verify`)\")")
COMPILE_TIMEOUT = 900.0  # one TFLM source on a loaded machine
OWNER_FILE = "edgeq-build.pid"  # "<pid> <host>" of the run building in a staging folder
STALE_AGE = 24 * 3600.0  # a staging folder without OWNER_FILE (an older edgeq's) untouched this long is left over
_STAGING = re.compile(r"\.[0-9a-f]{20}-[A-Za-z0-9_]+")  # tempfile.mkdtemp(prefix=".<key>-") in tflm_library


def device_header_text() -> str:
    """edgeq's stand-in for the CMSIS device header TFLM's micro_time.cc includes."""
    return render(DEVICE_TEMPLATE, {})


def core_defines(profile: TargetProfile) -> list[str]:
    """Definitions that depend on the core (CPU_M4=1, ARMCM4, the device header) and on the kernels."""
    build = tflm_build_context(profile)
    settings = build_settings()
    defines = [f"CPU_{build['core']}=1", build["device"],
               f'CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE="{settings.device_header}"']
    return defines + (list(settings.cmsis_nn_defines) if build["kernels"] == "cmsis_nn" else [])


def find_tree(option: str | Path | None, cmsis_nn: bool = True) -> Path:
    """The TFLM tree from --tflm-tree or $EDGEQ_TFLM_TREE, checked; a one-line VerifyError without one."""
    value = option if option not in (None, "") else os.environ.get(TREE_ENV, "")
    if not value:
        raise VerifyError(f"verifying a TFLM build needs a TFLM tree: pass --tflm-tree DIR or set {TREE_ENV}; "
                          f"{HOW_TO_GET}")
    return check_tree(Path(value).expanduser(), cmsis_nn)


def check_tree(tree: Path, cmsis_nn: bool = True) -> Path:
    """`tree` itself (absolute) if it holds every file the build needs, else a VerifyError naming the first
    missing one."""
    if not tree.is_dir():
        raise VerifyError(f"TFLM tree {tree} is not a directory; {HOW_TO_GET}")
    settings = build_settings()
    needed = settings.required + (settings.required_cmsis_nn if cmsis_nn else ())
    missing = [name for name in needed if not (tree / name).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        kind = "a TFLM tree with CMSIS-NN kernels" if set(missing) <= set(settings.required_cmsis_nn) else \
            "a TFLM tree"
        raise VerifyError(f"{tree} is not {kind}: {missing[0]} is missing{more}; {HOW_TO_GET}")
    return tree.resolve()


def tree_sources(tree: Path) -> list[str]:
    """The files the library is compiled from, relative to the tree (posix paths, sorted)."""
    settings = build_settings()
    found = []
    for top in settings.source_dirs:
        root = tree / top
        if root.is_dir():
            found += [p.relative_to(tree).as_posix() for p in root.rglob("*")
                      if p.is_file() and p.suffix in settings.source_extensions]
    return sorted(found)


def tree_digest(tree: Path) -> str:
    """sha256 over the relative path and content of every file under the tree's source directories."""
    digest = hashlib.sha256()
    files = sorted(p for top in build_settings().source_dirs if (tree / top).is_dir()
                   for p in (tree / top).rglob("*") if p.is_file())
    for path in files:
        digest.update(path.relative_to(tree).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class TflmBuild:
    """How to compile code against one TFLM library: flags, definitions and include directories."""

    tree: Path
    device_dir: Path
    cpu_flags: tuple[str, ...]
    defines: tuple[str, ...]

    @property
    def include_flags(self) -> list[str]:
        # -isystem, as the CMake project does: TFLM's headers are not the application's to warn about.
        return [f"-isystem{self.tree / d}" for d in build_settings().include_dirs] + [f"-isystem{self.device_dir}"]

    def flags(self, language: str, library: bool) -> list[str]:
        """Compile flags for `language` ('c' or 'c++'); the library adds its own options (-O2, -w, ...)."""
        settings = build_settings()
        own = settings.cxx_options if language == "c++" else settings.c_options
        extra = list(settings.options) if library else []
        return [*self.cpu_flags, *extra, *own, *(f"-D{d}" for d in self.defines), *self.include_flags]


def compilers(toolchain: Toolchain) -> tuple[str, str]:
    """(arm-none-eabi-g++, arm-none-eabi-ar) next to the configured gcc."""
    gcc = Path(toolchain.gcc)
    found = []
    for program in ("g++", "ar"):
        path = gcc.with_name(gcc.name.removesuffix("gcc") + program)
        if not path.is_file():
            raise ToolMissingError(f"{path.name} was not found next to {gcc}; install the Debian packages "
                                   "gcc-arm-none-eabi libstdc++-arm-none-eabi-newlib")
        found.append(str(path))
    return found[0], found[1]


def _fingerprint(parts: list[str], toolchain: Toolchain) -> str:
    digest = hashlib.sha256("\n".join(parts).encode())
    for program in (toolchain.gcc, *compilers(toolchain)):
        resolved = Path(program).resolve()
        stat = resolved.stat()
        digest.update(f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


@dataclass(frozen=True)
class TflmLibrary:
    """A built libtflm.a and the build it was compiled with."""

    path: Path
    build: TflmBuild
    key: str
    tree_digest: str
    built_now: bool


def library_key(tree: Path, profile: TargetProfile, toolchain: Toolchain) -> tuple[str, str]:
    """(cache key, tree digest): the key covers the tree's content, the flags, edgeq's device header and the
    compilers, so any change to one of them builds a new library."""
    settings = build_settings()
    digest = tree_digest(tree)
    parts = [digest, *profile.cpu.cflags, *core_defines(profile), repr(settings), device_header_text()]
    return _fingerprint(parts, toolchain), digest


def _owner_alive(text: str) -> bool:
    """Whether the run named by an OWNER_FILE's text may still be building (a run on another host, or a file
    that cannot be read, counts as alive: only what is surely dead is removed)."""
    words = text.split()
    if len(words) != 2 or not words[0].isdigit() or words[1] != socket.gethostname():
        return True
    try:
        os.kill(int(words[0]), 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: a live process of another user
        return True
    return True


def remove_stale_staging(cache: Path) -> list[Path]:
    """Remove the half-built libraries that runs stopped while compiling left in `cache` (their staging folders
    `.<key>-XXXX`: the owner's process is gone, or, without an owner file, untouched for STALE_AGE); returns
    what was removed. A live run's folder is kept."""
    removed = []
    try:
        entries = sorted(cache.iterdir()) if cache.is_dir() else []
    except OSError:
        return []
    for path in entries:
        if not _STAGING.fullmatch(path.name) or path.is_symlink() or not path.is_dir():
            continue
        owner = path / OWNER_FILE
        try:
            stale = not _owner_alive(owner.read_text(encoding="utf-8")) if owner.is_file() else \
                time.time() - path.stat().st_mtime > STALE_AGE
        except (OSError, UnicodeDecodeError):
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed.append(path)
    return removed


def tflm_library(tree: Path, profile: TargetProfile, toolchain: Toolchain, jobs: int | None = None,
                 on_start: Callable[[int, Path], None] | None = None,
                 on_clean: Callable[[Path], None] | None = None) -> TflmLibrary:
    """The TFLM static library for `profile`'s core, from the cache or compiled now (`on_start(files, where)`
    is called before a build begins, `on_clean(folder)` for each half-built library a stopped run left and
    this one removed)."""
    key, digest = library_key(tree, profile, toolchain)
    for stale in remove_stale_staging(cache_dir() / "tflm"):
        if on_clean is not None:
            on_clean(stale)
    root = cache_dir() / "tflm" / key
    build = TflmBuild(tree=tree, device_dir=root / "include", cpu_flags=tuple(profile.cpu.cflags),
                      defines=tuple(build_settings().defines) + tuple(core_defines(profile)))
    library = root / "libtflm.a"
    if library.is_file() and (build.device_dir / build_settings().device_header).is_file():
        return TflmLibrary(library, build, key, digest, built_now=False)
    sources = tree_sources(tree)
    if on_start is not None:
        on_start(len(sources), root)
    try:
        (cache_dir() / "tflm").mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir() / "tflm"))
        (staging / OWNER_FILE).write_text(f"{os.getpid()} {socket.gethostname()}\n", encoding="utf-8")
    except OSError as exc:
        raise VerifyError(f"cannot create the TFLM library cache under {cache_dir()}: {exc.strerror}; "
                          "set EDGEQ_CACHE_DIR to a writable directory") from None
    try:
        _compile_library(sources, build, staging, toolchain, jobs)
        if root.exists():  # a concurrent run finished first: keep its library
            return TflmLibrary(library, build, key, digest, built_now=True)
        (staging / OWNER_FILE).unlink()
        os.replace(staging, root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return TflmLibrary(library, build, key, digest, built_now=True)


def _compile_library(sources: list[str], build: TflmBuild, staging: Path, toolchain: Toolchain,
                     jobs: int | None) -> None:
    """Compile every source into staging/obj and archive staging/libtflm.a (with staging/include/)."""
    gxx, ar = compilers(toolchain)
    (staging / "include").mkdir()
    (staging / "include" / build_settings().device_header).write_text(device_header_text(), encoding="utf-8")
    local = TflmBuild(tree=build.tree, device_dir=staging / "include", cpu_flags=build.cpu_flags,
                      defines=build.defines)
    (staging / "obj").mkdir()
    c_flags, cxx_flags = local.flags("c", library=True), local.flags("c++", library=True)

    def compile_one(relative: str) -> Path:
        obj = staging / "obj" / (relative.replace("/", "__") + ".o")
        cxx = relative.endswith(".cc")
        run_tool([gxx if cxx else toolchain.gcc, *(cxx_flags if cxx else c_flags), "-c", str(build.tree / relative),
                  "-o", str(obj)], f"compiling TFLM's {relative}", timeout=COMPILE_TIMEOUT)
        return obj

    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
        objects = list(pool.map(compile_one, sources))
    # An archive built from an argument file: a few hundred paths would make a long command line.
    listing = staging / "objects.txt"
    listing.write_text("\n".join(str(o) for o in objects) + "\n", encoding="utf-8")
    run_tool([ar, "rcsD", str(staging / "libtflm.a"), f"@{listing}"], "archiving libtflm.a")
    shutil.rmtree(staging / "obj")
    listing.unlink()
