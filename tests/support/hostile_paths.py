"""A corpus of hostile artifact entry names, for tests of the push and the pull side.

``HOSTILE_PATHS`` holds names that every layer must refuse: as the ``name`` of
``Artifact.add_file`` / ``add_dir`` / ``new_file``, in ``Manifest.from_json``, and
in a manifest a server sends. Each case is ``(id, path)``; the id names it in test
reports (many paths are unprintable).

``ODD_BUT_SAFE_PATHS`` holds names that look suspicious but are accepted: they
normalise to a harmless relative path (trailing slashes, empty components) or
are ordinary file names on every filesystem we write to (Unicode look-alikes of
``.``, ``/`` and ``\\``: neither asyncart nor a POSIX filesystem NFKC-folds
names, so ``\\uff0e\\uff0e`` is a two-character name, not ``..``). Each case is
``(id, path, normalised)``.

Absolute paths point into :data:`PROBE_DIR` (never ``/etc``: tests may run as
root), so a test can check that nothing appeared there.
"""

from __future__ import annotations

from pathlib import Path

from asyncart.core.paths import JOURNAL_SUFFIX, MAX_PATH_LENGTH, RESERVED_SUFFIX

PROBE_DIR = Path("/tmp/asyncart-hostile-probe")  # where absolute hostile names point
_PROBE = PROBE_DIR.as_posix()

HOSTILE_PATHS: list[tuple[str, str]] = [
    # -- absolute POSIX paths ------------------------------------------------------
    ("abs-file", f"{_PROBE}/abs"),
    ("abs-root", "/"),
    ("abs-dot", "/."),
    ("abs-dotdot", "/../x"),
    ("abs-double-slash", f"/{_PROBE}/double-slash"),
    ("abs-triple-slash", "///x"),
    ("abs-trailing-slash", f"{_PROBE}/dir/"),
    # -- '..' in every position -------------------------------------------------------
    ("dotdot-alone", ".."),
    ("dotdot-slash", "../"),
    ("dotdot-leading", "../x"),
    ("dotdot-twice", "../../x"),
    ("dotdot-thrice", "../../../x"),
    ("dotdot-to-sentinel", "../sentinel/owned"),
    ("dotdot-deep", "../" * 40 + _PROBE.lstrip("/") + "/deep"),
    ("dotdot-middle", "a/../../x"),
    ("dotdot-stays-inside", "a/../b"),
    ("dotdot-trailing", "a/.."),
    ("dotdot-trailing-slash", "a/b/../"),
    ("dotdot-after-dot", "./../x"),
    ("dotdot-after-dots", "././../x"),
    ("dotdot-mixed", "a/./../../x"),
    ("dotdot-empty-components", "a//..//..//x"),
    ("dotdot-many", "a/b/../../../x"),
    # -- nothing left after normalising --------------------------------------------------
    ("empty", ""),
    ("dot", "."),
    ("dot-slash", "./"),
    ("dots-slashes", "./././"),
    ("slashes", "//"),
    # -- NUL and other control characters -------------------------------------------------
    ("nul", "a\x00b"),
    ("nul-alone", "\x00"),
    ("nul-truncates-to-dotdot", "x\x00/../../y"),
    ("nul-trailing", "file.txt\x00.png"),
    ("newline", "a\nb"),
    ("carriage-return", "a\rb"),
    ("tab", "tab\there"),
    ("escape-sequence", "\x1b[31mred"),
    ("delete", "a\x7f"),
    ("c1-nel", "a\x85b"),
    ("c1-csi", "a\x9bb"),
    ("lone-surrogate", "a\ud800b"),
    # -- invisible format characters (category Cf): a name that displays as another ----------
    ("rtl-override", "invoice\u202egpj.exe"),
    ("ltr-override", "a\u202db"),
    ("rtl-isolate", "a\u2067b\u2069"),
    ("rtl-mark", "a\u200fb"),
    ("zero-width-space", "model\u200b.bin"),
    ("zero-width-joiner", "a\u200db"),
    ("zero-width-non-joiner", "a\u200cb"),
    ("word-joiner", "a\u2060b"),
    ("bom", "\ufeffREADME.md"),
    ("bom-in-directory", "dir\ufeff/x"),
    ("soft-hyphen", "pass\u00adwd"),
    ("arabic-letter-mark", "a\u061cb"),
    ("interlinear-annotation", "a\ufff9b"),
    ("tag-character", "a\U000e0041b"),
    # -- backslash tricks ---------------------------------------------------------------------
    ("backslash-dotdot", "..\\..\\x"),
    ("backslash-dotdot-middle", "a\\..\\..\\b"),
    ("backslash-leading", "\\x"),
    ("backslash-plain", "a\\b"),
    ("backslash-mixed", "a/..\\..\\b"),
    ("unc", "\\\\server\\share\\x"),
    ("unc-extended", "\\\\?\\C:\\x"),
    ("unc-device", "\\\\.\\pipe\\x"),
    # -- Windows drives ------------------------------------------------------------------------
    ("drive-backslash", "C:\\x"),
    ("drive-relative", "C:x"),
    ("drive-alone", "C:"),
    ("drive-slash", "c:/x"),
    ("drive-dotdot", "Z:\\..\\x"),
    ("drive-slash-dotdot", "C:/../x"),
    # -- names downloads reserve for partly written files ------------------------------------------
    ("reserved-part", "x" + RESERVED_SUFFIX),
    ("reserved-journal", "dir/model.bin" + JOURNAL_SUFFIX),
    ("reserved-part-alone", RESERVED_SUFFIX),
    ("reserved-part-trailing-slash", "x" + RESERVED_SUFFIX + "/"),
    ("reserved-part-as-directory", "x" + RESERVED_SUFFIX + "/y"),
    ("reserved-journal-as-directory", "x" + JOURNAL_SUFFIX + "/y"),
    # -- too long ------------------------------------------------------------------------------
    ("too-long", "a" * (MAX_PATH_LENGTH + 1)),
    ("component-over-255-bytes", "d/" + "n" * 256),
    ("component-over-255-utf8-bytes", "é" * 128),
    ("too-long-dirs", "d/" * (MAX_PATH_LENGTH // 2) + "x"),
]

ODD_BUT_SAFE_PATHS: list[tuple[str, str, str]] = [
    ("trailing-slash", "a/", "a"),
    ("empty-components", "a//b///c", "a/b/c"),
    ("leading-dot", "./a", "a"),
    ("three-dots", "...", "..."),
    ("dotdot-prefix", "..a", "..a"),
    ("dotdot-suffix", "a..", "a.."),
    ("dotdot-hidden", "a/..b/c", "a/..b/c"),
    ("fullwidth-dots", "\uff0e\uff0e/x", "\uff0e\uff0e/x"),
    ("fullwidth-slash", "\uff0e\uff0e\uff0fx", "\uff0e\uff0e\uff0fx"),
    ("two-dot-leader", "\u2025/x", "\u2025/x"),
    ("one-dot-leader", "\u2024\u2024/x", "\u2024\u2024/x"),
    ("division-slash", "..\u2215x", "..\u2215x"),
    ("fraction-slash", "..\u2044x", "..\u2044x"),
    ("fullwidth-backslash", "..\uff3cx", "..\uff3cx"),
    ("small-full-stop", "\ufe52\ufe52/x", "\ufe52\ufe52/x"),
    ("combining-dot", ".\u0307./x", ".\u0307./x"),
    ("reserved-suffix-inside", f"model{RESERVED_SUFFIX}.bin", f"model{RESERVED_SUFFIX}.bin"),
    ("colon-later", "ab:c", "ab:c"),
    # Longest names a filesystem takes: the download's part file and journal get a
    # shortened sidecar name (asyncart.core.paths.sidecar_path).
    ("name-of-255-bytes", "n" * 255, "n" * 255),
    ("utf8-name-of-254-bytes", "d/" + "\u00e9" * 127, "d/" + "\u00e9" * 127),
]


#: Pairs of entry paths that are different strings but the same file on macOS / Windows
#: (case-insensitive, and on APFS/HFS+ normalisation-insensitive): one manifest may hold
#: either, never both. Each case is ``(id, first, second)``.
TWIN_PATHS: list[tuple[str, str, str]] = [
    ("case", "Model.bin", "model.bin"),
    ("case-upper", "README", "readme"),
    ("case-in-directory", "Data/x.bin", "data/x.bin"),
    ("case-deep", "a/B/c/d.txt", "a/b/c/D.txt"),
    ("nfc-nfd", "caf\u00e9.txt", "cafe\u0301.txt"),
    ("nfc-nfd-directory", "\u00e9t\u00e9/x", "e\u0301te\u0301/x"),
    ("nfc-nfd-hangul", "\ud55c.txt", "\u1112\u1161\u11ab.txt"),
    ("case-and-nfd", "CAF\u00c9", "cafe\u0301"),
    ("sharp-s", "stra\u00dfe", "STRASSE"),
    ("greek-sigma", "\u03c3.txt", "\u03a3.txt"),
    ("kelvin-sign", "\u212a.txt", "k.txt"),
    ("angstrom-sign", "\u212b", "\u00e5"),
    # a file of one spelling where the other spelling is a directory
    ("file-vs-directory-case", "Data", "data/x.bin"),
    ("file-vs-directory-nfd", "\u00e9", "e\u0301/x"),
]


def hostile_ids() -> list[str]:
    """The ids of :data:`HOSTILE_PATHS`, for ``pytest.mark.parametrize(ids=...)``."""
    return [case_id for case_id, _ in HOSTILE_PATHS]
