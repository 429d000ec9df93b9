"""Loading policies for the daemon: signed bundles on open and on ``PUT /v1/policy``, the
workspace policy on reload, and policy text to validate.

A verified bundle's YAML is written to ``.codor/server/policy/<sha256>.yaml`` and loaded from
there (the loader reads files); a bundled policy may extend only built-in rulesets, since a
file it extends is not covered by the signature. A bundle pushed with ``PUT /v1/policy`` is
also kept as ``.codor/policy.bundle.json``: start the daemon with ``--policy
.codor/policy.bundle.json`` to load the latest pushed bundle (verified again) on every start.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from codor.policy.bundle import PolicyBundleError

if TYPE_CHECKING:
    from codor.policy.compiler import CompiledPolicy
    from codor.policy.engine import Engine
    from codor.server.settings import ServerSettings

__all__ = ["PUSHED_BUNDLE", "BundleInfo", "bundle_ref", "compile_text", "engine_for",
           "keep_pushed", "load_bundle_file", "verified_bundle"]

#: where ``PUT /v1/policy`` keeps the last bundle it applied (under the workspace's .codor/)
PUSHED_BUNDLE: Final = "policy.bundle.json"


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """A verified bundle: the file its policy was written to and who signed it."""

    path: Path
    keyid: str
    signer: str

    def to_json(self) -> dict[str, Any]:
        return {"keyid": self.keyid, "signer": self.signer}


def _policy_dir(settings: ServerSettings) -> Path:
    return settings.server_dir / "policy"


def verified_bundle(data: bytes, settings: ServerSettings) -> BundleInfo:
    """Verify bundle bytes against ``.codor/policy-keys/*.pub`` and write its policy out."""
    from codor.policy.bundle import materialize, trusted_keys, verify_bundle

    trusted = trusted_keys(settings.home)
    text, keyid = verify_bundle(data, trusted)
    signer = next(f"{k.name}+{k.key_id_hex}" for k in trusted if k.key_id_hex == keyid)
    return BundleInfo(materialize(text, _policy_dir(settings)), keyid, signer)


def _check_files(compiled: CompiledPolicy, own: Path) -> None:
    from codor.policy.bundle import policy_files_ok

    problem = policy_files_ok(compiled.files, own)
    if problem is not None:
        raise PolicyBundleError(problem)


def engine_for(ref: str | Path, settings: ServerSettings, *,
               bundle: BundleInfo | None = None) -> Engine:
    """An engine for ``ref`` as the daemon loads it (workspace and CODOR home set); with
    ``bundle`` the policy must not extend files."""
    from codor.policy import load_engine

    engine = load_engine(str(ref), workspace=str(settings.workspace),
                         codor_home=str(settings.home))
    if bundle is not None:
        try:
            _check_files(engine.policy, bundle.path)
        except BaseException:
            engine.close()
            raise
    return engine


def load_bundle_file(ref: str, settings: ServerSettings) -> BundleInfo:
    """The bundle file ``ref`` (relative to the workspace), verified and written out, its
    policy checked to extend no file. Raises :class:`PolicyBundleError`."""
    from codor.policy import compile_ref
    from codor.policy.bundle import MAX_BUNDLE_BYTES

    path = Path(ref)
    if not path.is_absolute():
        path = settings.workspace / path
    try:
        if path.stat().st_size > MAX_BUNDLE_BYTES:
            raise PolicyBundleError(f"larger than {MAX_BUNDLE_BYTES} bytes", location=ref)
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyBundleError(f"cannot read the policy bundle: {exc.strerror}",
                                location=ref) from None
    try:
        info = verified_bundle(data, settings)
    except PolicyBundleError as exc:
        raise PolicyBundleError(exc.message, location=exc.location or ref) from None
    compiled = compile_ref(info.path, workspace=settings.workspace,
                           codor_home=str(settings.home))
    try:
        _check_files(compiled, info.path)
    finally:
        compiled.close()
    return info


def bundle_ref(ref: str, settings: ServerSettings) -> str:
    """For :meth:`Daemon.open <codor.server.daemon.Daemon.open>`: the bundle file ``ref``,
    verified (:func:`load_bundle_file`), as the path of its policy to load."""
    return str(load_bundle_file(ref, settings).path)


def keep_pushed(data: bytes, settings: ServerSettings) -> Path:
    """Keep an applied bundle as ``.codor/policy.bundle.json`` (via a rename)."""
    from codor.atomicfile import write_atomic

    target = settings.home / PUSHED_BUNDLE
    try:
        write_atomic(target, data, mode=0o644)
    except OSError as exc:
        raise PolicyBundleError(f"cannot keep the bundle: {exc.strerror}",
                                location=str(target)) from None
    return target


def compile_text(text: str, settings: ServerSettings
                 ) -> tuple[list[dict[str, Any]], str | None]:
    """Lint policy text as if it were the workspace's ``.codor/policy.yaml`` (relative
    ``extends`` resolve from there): the problems (``level``, ``code``, ``location``,
    ``message``; locations name ``<body>`` for the text itself) and, when it compiles, its
    sha256. Never raises for a bad policy."""
    from codor.policy import compile_ref
    from codor.policy.lint import lint_policy

    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / f".policy-validate-{os.getpid()}-{secrets.token_hex(6)}.yaml"
    sha: list[str] = []

    def load() -> CompiledPolicy:
        compiled = compile_ref(tmp, workspace=settings.workspace, codor_home=str(home))
        sha.append(compiled.sha256)
        return compiled

    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        problems = lint_policy(load)
    finally:
        tmp.unlink(missing_ok=True)
    name = str(tmp.resolve())

    def clean(value: str | None) -> str | None:
        return None if value is None else value.replace(name, "<body>").replace(str(tmp),
                                                                                 "<body>")

    out_problems = [{"level": p.level, "code": p.code, "location": clean(p.location),
                     "message": clean(p.message)} for p in problems]
    ok = not any(p.level == "error" for p in problems)
    return out_problems, sha[0] if sha and ok else None
