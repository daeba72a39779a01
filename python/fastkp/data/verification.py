"""Pixels are checked before they are used: ``verify(samples, on_error=...)``.

The readers read headers only, and a JPEG damaged after its header (premature end
of data, bad entropy data) would be decoded by DALI or PIL with made-up pixels.
``verify`` checks every file as ``fastkp-infer``'s decoders do (the compiled
``fastkp._verify``: a JPEG's entropy-coded data read by libjpeg-turbo without the
IDCT, its corrupt-data warnings counted as errors; a PNG's rows inflated with CRCs
checked; the pixel limit from the header), on worker threads. Files that passed
are remembered under ``$FASTKP_CACHE`` by (path, size, mtime), so a second run
over the same data costs nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from ..atomic import atomic_writer
from .on_error import Skipper
from .pixels import pixel_limit
from .sample import DatasetError, Sample

CACHE_NAME = "verified-v1.json"


def cache_dir() -> Path:
    """$FASTKP_CACHE, else ~/.cache/fastkp: the demo sets and the verified-file list."""
    return Path(os.environ.get("FASTKP_CACHE") or Path.home() / ".cache" / "fastkp").expanduser()


def _key(path: str) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # verify_images names the problem
    return f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"


def _load_cache(path: Path) -> set[str]:
    try:
        keys = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):  # absent or damaged: verify again
        return set()
    return set(keys) if isinstance(keys, list) and all(isinstance(k, str) for k in keys) else set()


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _checker():
    """The compiled checks (built with fastkp-infer, which needs libjpeg and libpng)."""
    try:
        from .. import _verify
    except ImportError as e:
        raise DatasetError(f"fastkp was built without its image checks (fastkp._verify: {e}); rebuild it "
                           "with libjpeg-turbo and libpng development files installed") from None
    return _verify


def check_images(paths: Sequence[str], threads: int | None = None, cache: bool = True,
                 max_pixels: int | None = None) -> list[str | None]:
    """One entry per path: None when the image is usable (within ``max_pixels``, see
    ``fastkp.data.pixels``), else "PATH: why"."""
    cache_file = cache_dir() / CACHE_NAME
    known = _load_cache(cache_file) if cache else set()
    keys = [_key(p) for p in paths]
    todo = [i for i, k in enumerate(keys) if k is None or k not in known]
    reasons: list[str | None] = [None] * len(paths)
    for i in todo:  # the C++ checks take UTF-8 paths
        if not str(paths[i]).isascii() and not _utf8(str(paths[i])):
            reasons[i] = f"{os.fsencode(paths[i])!r}: the file name is not valid UTF-8"
    todo = [i for i in todo if reasons[i] is None]
    found = _checker().verify_images([str(paths[i]) for i in todo], threads or os.cpu_count() or 1,
                                     max_pixels=pixel_limit(max_pixels))
    for i, reason in zip(todo, found):
        reasons[i] = reason
    passed = {keys[i] for i in todo if reasons[i] is None and keys[i] is not None}
    if cache and passed:
        try:
            with atomic_writer(cache_file) as f:
                f.write(json.dumps(sorted(known | passed)).encode())
        except OSError:  # a read-only cache only costs verifying again next time
            pass
    return reasons


def verify(samples: Sequence[Sample], on_error: str = "raise", threads: int | None = None,
           cache: bool = True, max_pixels: int | None = None) -> list[Sample]:
    """The samples whose image files are usable; a bad file raises DatasetError naming it,
    or with ``on_error="skip"`` is dropped and counted in one log line."""
    skipper = Skipper(on_error, f"verify({len(samples)} images)")
    kept = []
    for sample, reason in zip(samples, check_images([s.path for s in samples], threads, cache, max_pixels)):
        if reason is None:
            kept.append(sample)
        else:
            skipper.bad(DatasetError(reason))
    skipper.report()
    return kept
