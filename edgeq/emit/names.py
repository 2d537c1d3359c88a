"""Turning user-supplied names into safe C identifiers, comments and strings.

Everything a user (or a model file) controls — the `--name` prefix, tensor names — reaches generated
C/C++/Kotlin/CMake text only through these functions, so a hostile name cannot break the build or inject code.
"""

from __future__ import annotations

import re
import unicodedata


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# C11 + C++17 keywords, alternative tokens and a few names that collide with macros/typedefs the generated
# code and its headers use. An identifier equal to one of these gets an `m_` prefix.
_RESERVED = _words("""
    alignas alignof and and_eq asm auto bitand bitor bool break case catch char char16_t char32_t char8_t class
    compl concept const const_cast consteval constexpr constinit continue co_await co_return co_yield decltype
    default delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline
    int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public
    register reinterpret_cast requires restrict return short signed sizeof static static_assert static_cast
    struct switch template this thread_local throw true try typedef typeid typename union unsigned using virtual
    void volatile wchar_t while xor xor_eq _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary
    _Noreturn _Static_assert _Thread_local
    main NULL EOF errno assert offsetof size_t int8_t uint8_t int16_t uint16_t int32_t uint32_t int64_t uint64_t
    tflite std
""")
# Kotlin hard keywords (a class or package segment equal to one of these would not compile).
_KOTLIN_RESERVED = _words("""
    as break class continue do else false for fun if in interface is null object package return super this
    throw true try typealias typeof val var when while
""")
MAX_IDENTIFIER = 40  # leaves room for suffixes such as _test_expected_output0 within C99's 63 significant chars
DEFAULT_NAME = "model"


def c_identifier(name: str, default: str = DEFAULT_NAME) -> str:
    """`name` as a valid, non-reserved C/C++ identifier: [a-z0-9_], not starting with a digit or `_`.

    Lower-cased so the upper-cased macro prefix maps back to the same identifier; runs of other characters
    become one `_`. A name starting with a digit or equal to a keyword gets an `m_` prefix, not a `_`
    suffix: the templates append `_model_data` etc., and `int__model_data` would contain `__`, which C++
    reserves anywhere in an identifier.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")  # é -> e
    ident = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    if not ident:
        ident = default
    if ident[0].isdigit() or ident in _RESERVED or ident.upper() in _RESERVED:
        ident = f"m_{ident}"
    return ident[:MAX_IDENTIFIER].rstrip("_")


def macro_prefix(ident: str) -> str:
    """The upper-case prefix for macros of an identifier made by `c_identifier`."""
    return ident.upper()


def kotlin_class_name(ident: str) -> str:
    """An UpperCamelCase Kotlin class name ending in `Model` from a C identifier (`kws` -> `KwsModel`).

    The suffix keeps it from shadowing the Kotlin/Java types the generated class uses (`Int`, `Float`, ...).
    """
    parts = [p for p in ident.split("_") if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts)
    if name[:1].isdigit():
        name = f"M{name}"
    return name if name.endswith("Model") else f"{name}Model"


def kotlin_package_segment(ident: str) -> str:
    """A Java/Kotlin package segment from a C identifier (lower case, no keywords)."""
    segment = ident.replace("_", "")
    if not segment or segment[0].isdigit():
        segment = f"m{segment}"
    return f"{segment}_" if segment in _KOTLIN_RESERVED else segment


def comment_text(text: str, limit: int = 120) -> str:
    """Text safe inside a `//` or `/* */` C comment, a `#` CMake/YAML comment or a Markdown line.

    Only printable ASCII survives (no newlines that would end a `//` comment, no `*/`, no trigraphs,
    no backslash that would continue a line); anything else becomes `?`.
    """
    safe = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    safe = safe.replace("*/", "*?").replace("/*", "/?").replace("??", "?_").replace("\\", "/")
    safe = safe.replace("`", "'")  # Markdown code spans
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def c_string_literal(text: str) -> str:
    """`text` as a double-quoted C string literal with every non-alphanumeric byte escaped."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        out.append(ch if ch.isalnum() and byte < 128 or ch in " _-.:/" else f"\\{byte:03o}")
    return '"' + "".join(out) + '"'
