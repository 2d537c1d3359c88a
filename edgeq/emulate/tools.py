"""External tools (Arm GCC, QEMU, the host C compiler) and running them under a time-out."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgeq.errors import ToolMissingError, VerifyError

DEBIAN_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
_INSTALL = f"install the Debian packages: sudo apt-get install {DEBIAN_PACKAGES}"


@dataclass(frozen=True)
class Toolchain:
    """Absolute paths of the programs emulated verification uses."""

    gcc: str
    size: str
    nm: str
    qemu: str
    host_cc: str


def _which(program: str, what: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise ToolMissingError(f"{program} ({what}) was not found on PATH; {_INSTALL}")
    return path


def find_toolchain() -> Toolchain:
    """Locate every tool, or raise ToolMissingError naming the Debian packages to install."""
    gcc = _which("arm-none-eabi-gcc", "the Arm cross compiler")
    size = _which("arm-none-eabi-size", "binutils for Arm")
    nm = _which("arm-none-eabi-nm", "binutils for Arm")
    qemu = _which("qemu-system-arm", "the Arm system emulator")
    # Without newlib, gcc answers -print-file-name with the bare name instead of a path.
    rdimon = run_bounded([gcc, "-print-file-name=librdimon.a"], timeout=30).stdout.strip()
    if not os.path.isabs(rdimon):
        raise ToolMissingError(f"newlib's semihosting library (librdimon.a) is missing for {gcc}; {_INSTALL}")
    host_cc = shutil.which("cc") or shutil.which("gcc")
    if host_cc is None:
        raise ToolMissingError("no host C compiler (cc or gcc) to build edgeq's QEMU counting plugin; "
                               "install the Debian package gcc")
    return Toolchain(gcc=gcc, size=size, nm=nm, qemu=qemu, host_cc=host_cc)


@dataclass(frozen=True)
class Completed:
    """What a bounded run produced. `timed_out` runs were killed together with their process group."""

    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def run_bounded(command: list[str], timeout: float, cwd: Path | None = None) -> Completed:
    """Run `command` in its own process group; past `timeout` seconds (or on any interruption) the whole
    group is killed and reaped, so no emulator or compiler is ever left behind."""
    process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(process)
        out, err = process.communicate()
        timed_out = True
    except BaseException:
        _kill_group(process)
        process.wait()
        raise
    return Completed(process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                     timed_out)


_TELLING = re.compile(r"error:|#error|undefined reference|multiple definition|will not fit|overflowed|fatal",
                      re.IGNORECASE)


def first_error(text: str, limit: int = 300) -> str:
    """The most telling line of a tool's error output (the first error, else the first line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("collect2")]
    chosen = next((line for line in lines if _TELLING.search(line)), lines[0] if lines else "no output")
    return chosen if len(chosen) <= limit else chosen[: limit - 3] + "..."


def run_tool(command: list[str], what: str, cwd: Path | None = None, timeout: float = 300) -> str:
    """Run a build tool; a failure or time-out becomes a one-line VerifyError saying `what` failed."""
    done = run_bounded(command, timeout=timeout, cwd=cwd)
    if done.timed_out:
        raise VerifyError(f"{what}: {Path(command[0]).name} did not finish within {timeout:.0f} s")
    if done.returncode != 0:
        raise VerifyError(f"{what} failed: {first_error(done.stderr or done.stdout)}")
    return done.stdout
