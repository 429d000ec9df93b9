"""Classify workspace paths: test files, code (anything whose change makes test results stale),
and the lint, type, test and coverage configuration files whose loosening is a fabrication.

Paths are workspace-relative with POSIX separators (a leading ``./`` or backslashes are
tolerated). The decisions:

- :func:`is_test_path`: Python ``test_*.py``, ``*_test.py``, ``conftest.py`` and ``.py`` files
  under a ``tests/`` or ``test/`` directory; JS/TS ``*.test.*``, ``*.spec.*`` and source files
  under ``__tests__/``, ``tests/`` or ``test/``; Go ``*_test.go``; Rust ``.rs`` under ``tests/``.
- :func:`is_config_path`: the tool configuration files named in :data:`CONFIG_NAMES` and the
  ``tsconfig*.json``, ``.eslintrc*``, ``eslint.config.*``, ``jest.config.*``,
  ``vitest.config.*``, ``.mocharc*`` and ``.golangci.*`` families.
- :func:`is_code_path`: tests, configuration, source code in any common language, build files
  and dependency manifests. **Lockfiles count as code**: they pin the dependencies the tests
  ran against, so changing one makes earlier results stale. Structured data (``.json``,
  ``.yaml``, ``.toml``, ``.ini``...) counts too, since programs read it, except under
  ``.github/`` and editor folders. Documentation (``.md``, ``.rst``, plain ``.txt``), images,
  licences, ``.gitignore``/``.gitattributes``/``.editorconfig`` and unknown extensions do not;
  anything but documentation or an image under a test directory does (fixtures).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["CONFIG_NAMES", "is_code_path", "is_config_path", "is_test_path"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


CONFIG_NAMES: Final[frozenset[str]] = frozenset({
    "pyproject.toml", "setup.cfg", "tox.ini", "mypy.ini", ".mypy.ini", ".flake8", "ruff.toml",
    ".ruff.toml", "pytest.ini", ".coveragerc", "package.json", "cargo.toml", "pyrightconfig.json",
    ".pylintrc", "pylintrc", "clippy.toml", ".clippy.toml",
})
_CONFIG_FAMILY: Final = re.compile(
    r"(tsconfig[\w.-]*\.json|\.eslintrc(\.\w+)?|eslint\.config\.\w+|jest\.config\.\w+"
    r"|vitest\.config\.\w+|\.mocharc(\.\w+)?|\.golangci\.(yml|yaml|toml|json))")

_PY_TEST: Final = re.compile(r"(test_.*|.*_test)\.py|conftest\.py")
_JS_EXT: Final = r"[cm]?[jt]sx?"
_JS_TEST: Final = re.compile(rf".+\.(test|spec)\.{_JS_EXT}")
_JS_SOURCE: Final = re.compile(rf".+\.({_JS_EXT}|vue|svelte)")
_TEST_DIRS: Final = frozenset({"tests", "test", "__tests__"})

_SOURCE_EXTS: Final = _words(
    "py pyi pyx pxd js jsx mjs cjs ts tsx mts cts vue svelte go rs c h cc cpp cxx hpp hh hxx "
    "java kt kts scala groovy rb php cs fs vb swift m mm lua pl pm r jl ex exs erl hrl hs ml "
    "mli clj cljs dart zig nim sh bash zsh ps1 sql proto graphql gql html htm css scss sass "
    "less j2 jinja jinja2 tmpl mk cmake gradle")
_DATA_EXTS: Final = _words("json jsonc json5 yaml yml toml ini cfg conf xml env lock properties")
_NOT_CODE_EXTS: Final = _words(
    "md markdown rst txt adoc org rtf pdf png jpg jpeg gif bmp svg ico webp tiff mp3 mp4 "
    "wav woff woff2 ttf otf eot")
_BUILD_NAMES: Final[frozenset[str]] = frozenset({
    "makefile", "gnumakefile", "cmakelists.txt", "dockerfile", "justfile", "pipfile",
    "gemfile", "rakefile", "go.mod", "go.sum", "cargo.lock", "yarn.lock", "build", "workspace",
    "manifest.in", ".python-version", ".nvmrc", ".node-version", ".tool-versions", ".env",
})
_REQUIREMENTS: Final = re.compile(r"(requirements|constraints)[\w.-]*\.(txt|in)")
_NOT_CODE_DIRS: Final[frozenset[str]] = frozenset({".github", ".vscode", ".idea", ".git"})


def _parts(path: str) -> list[str]:
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    return parts or [""]


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[1].lower() if "." in name.lstrip(".") else ""


def is_test_path(path: str) -> bool:
    """Whether ``path`` is a test file (Python, JavaScript/TypeScript, Go or Rust)."""
    parts = _parts(path)
    name, dirs = parts[-1], {d.lower() for d in parts[:-1]}
    if name.endswith(".py"):
        return bool(_PY_TEST.fullmatch(name)) or bool(dirs & {"tests", "test"})
    if _JS_TEST.fullmatch(name):
        return True
    if _JS_SOURCE.fullmatch(name):
        return bool(dirs & _TEST_DIRS)
    if name.endswith(".go"):
        return name.endswith("_test.go")
    if name.endswith(".rs"):
        return "tests" in dirs
    return False


def is_config_path(path: str) -> bool:
    """Whether ``path`` is a lint, type-check, test-runner or coverage configuration file."""
    name = _parts(path)[-1].lower()
    return name in CONFIG_NAMES or bool(_CONFIG_FAMILY.fullmatch(name))


def is_code_path(path: str) -> bool:
    """Whether a change to ``path`` makes earlier test results stale (see the module doc)."""
    parts = _parts(path)
    lower = parts[-1].lower()
    ext, dirs = _ext(lower), {p.lower() for p in parts[:-1]}
    if is_test_path(path) or is_config_path(path):
        return True
    if ext in _NOT_CODE_EXTS:
        return bool(_REQUIREMENTS.fullmatch(lower)) or lower == "cmakelists.txt"
    if dirs & _NOT_CODE_DIRS:
        return False
    if ext in _SOURCE_EXTS or ext in _DATA_EXTS or lower in _BUILD_NAMES:
        return True
    if lower.startswith(("dockerfile", "makefile")) or lower.endswith("-lock.json"):
        return True
    return ext != "" and bool(dirs & _TEST_DIRS)
