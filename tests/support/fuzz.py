"""Fuzzing the image decoders, and the checks of a pt2 package's library (no tests here;
cpp/test_fuzz.py drives it).

Seed JPEGs and PNGs are made by PIL from a fixed seed (no binary corpus is
committed); each category of mutation damages them in one way. Every mutated file
goes through each decoder under test, and each file's outcome is one of:

- refused: one stderr line (one reason) naming the file;
- answered: a valid JSON line (or, for the verify function, None);
- crashed: a signal, a hang, a line that does not name the file, invalid JSON.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from support.images import GREY, RGB, SIGNATURE, random_pixels, write_png
from support.infer import INFER

OUTCOMES = ("refused", "answered", "crashed")
TIMEOUT_S = 60  # per file when files run one by one; a batch gets this plus 2 s per file
BATCH = 2000  # files a run of a program
Mutator = Callable[[bytes, np.random.Generator], bytes]


# ---- seeds ---------------------------------------------------------------------------

def seed_images(folder: Path, rng: np.random.Generator) -> dict[str, Path]:
    """name -> a small valid JPEG or PNG of random size and content."""
    h, w = (int(v) for v in rng.integers(8, 80, 2))
    pixels = random_pixels(h, w, seed=int(rng.integers(1 << 31)))
    img = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = int(rng.integers(1, 9))
    jpegs = {"baseline": {}, "4:4:4": {"subsampling": 0}, "progressive": {"progressive": True},
             "exif": {"exif": exif.tobytes()}, "restart markers": {"restart_marker_blocks": 1}}
    out = {}
    for name, args in jpegs.items():
        out[name] = folder / f"{name}.jpg"
        img.save(out[name], quality=int(rng.integers(50, 96)), **args)
    img.convert("L").save(folder / "grey.jpg", quality=90)
    img.save(folder / "rgb.png")
    img.quantize(int(rng.integers(2, 200))).save(folder / "palette.png")
    out.update({"grey": folder / "grey.jpg", "rgb png": folder / "rgb.png", "palette png": folder / "palette.png"})
    out["grey 16-bit png"] = write_png(folder / "grey16.png", rng.integers(0, 65536, (h, w), dtype=np.uint16), GREY, 16)
    out["Adam7 png"] = write_png(folder / "adam7.png", pixels, RGB, interlace=True)
    return out


# ---- structure ---------------------------------------------------------------------------

def jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """(marker, start, end) of the marker segments up to the first SOS, and where the
    entropy-coded data after it starts."""
    segments, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2:pos + 4], "big")
        segments.append((marker, pos, pos + 2 + length))
        pos += 2 + length
        if marker == 0xDA:  # start of scan
            break
    return segments, pos


def with_jpeg_size(data: bytes, height: int, width: int) -> bytes:
    """The JPEG with its frame header (SOF0-SOF2) claiming height x width."""
    _, start, _ = next(s for s in jpeg_segments(data)[0] if 0xC0 <= s[0] <= 0xC2)
    return data[:start + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[start + 9:]


def png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of each chunk, CRC included."""
    chunks, pos = [], len(SIGNATURE)
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        chunks.append((data[pos + 4:pos + 8], pos, min(pos + 12 + length, len(data))))
        pos += 12 + length
    return chunks


def with_chunk_data(data: bytes, index: int, payload: bytes) -> bytes:
    """The PNG with chunk ``index``'s data replaced, its length and CRC made to match."""
    kind, start, end = png_chunks(data)[index]
    chunk = len(payload).to_bytes(4, "big") + kind + payload + zlib.crc32(kind + payload).to_bytes(4, "big")
    return data[:start] + chunk + data[end:]


def with_png_size(data: bytes, height: int, width: int) -> bytes:
    """The PNG with its IHDR claiming height x width (CRC fixed)."""
    _, start, end = png_chunks(data)[0]
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + data[start + 16:end - 4]
    return with_chunk_data(data, 0, ihdr)


# ---- mutations ---------------------------------------------------------------------------

def _truncate(data: bytes, rng) -> bytes:
    return data[:int(rng.integers(1, len(data)))]


def _flip_bits(data: bytes, rng, start: int, end: int) -> bytes:
    """1 to 8 distinct bits of data[start:end] flipped."""
    out = bytearray(data)
    bits = 8 * max(1, end - start)
    for bit in rng.choice(bits, size=min(bits, int(rng.integers(1, 9))), replace=False):
        out[start + bit // 8] ^= 1 << int(bit % 8)
    return bytes(out)


def _insert_or_delete(data: bytes, rng) -> bytes:
    i, n = int(rng.integers(0, len(data))), int(rng.integers(1, 17))
    if rng.random() < 0.5:
        return data[:i] + rng.bytes(n) + data[i:]
    return data[:i] + data[i + n:]


def _field_value(rng, bits: int) -> int:
    """Zero, one, the largest value or any: the values that break parsers."""
    return int(rng.choice([0, 1, (1 << bits) - 1, int(rng.integers(0, 1 << bits))]))


def _jpeg_entropy_flips(data: bytes, rng) -> bytes:
    return _flip_bits(data, rng, jpeg_segments(data)[1], len(data) - 2)


def _jpeg_header_field(data: bytes, rng) -> bytes:
    segments, _ = jpeg_segments(data)
    choice = rng.random()
    if choice < 0.3:
        return with_jpeg_size(data, _field_value(rng, 16), _field_value(rng, 16))
    _, start, end = segments[int(rng.integers(len(segments)))]
    if choice < 0.6:  # the segment's length field
        return data[:start + 2] + _field_value(rng, 16).to_bytes(2, "big") + data[start + 4:]
    out = bytearray(data)  # a byte of the segment's content: component counts, tables, sampling
    out[int(rng.integers(start + 4, max(start + 5, end)))] = _field_value(rng, 8)
    return bytes(out)


def _jpeg_remove_marker(data: bytes, rng) -> bytes:
    segments, _ = jpeg_segments(data)
    if rng.random() < 0.2:
        return data[:-2]  # the end-of-image marker
    _, start, end = segments[int(rng.integers(len(segments)))]
    return data[:start] + data[end:]


def _png_pixel_flips(data: bytes, rng) -> bytes:
    """Bits flipped in the compressed pixels, the CRC made to match: zlib and the
    filters must notice."""
    chunks = png_chunks(data)
    index = next(i for i, c in enumerate(chunks) if c[0] == b"IDAT")
    _, start, end = chunks[index]
    return with_chunk_data(data, index, _flip_bits(data[start + 8:end - 4], rng, 0, end - start - 12))


def _png_header_field(data: bytes, rng) -> bytes:
    chunks = png_chunks(data)
    if rng.random() < 0.3:  # a chunk's length field
        _, start, _ = chunks[int(rng.integers(len(chunks)))]
        return data[:start] + _field_value(rng, 32).to_bytes(4, "big") + data[start + 4:]
    _, start, end = chunks[0]
    ihdr = bytearray(data[start + 8:end - 4])
    field = int(rng.integers(7))  # width, height, depth, colour type, compression, filter, interlace
    if field < 2:
        ihdr[4 * field:4 * field + 4] = _field_value(rng, 32).to_bytes(4, "big")
    else:
        ihdr[6 + field] = _field_value(rng, 8)
    return with_chunk_data(data, 0, bytes(ihdr))


def _png_crc_damage(data: bytes, rng) -> bytes:
    chunks = png_chunks(data)
    _, _, end = chunks[int(rng.integers(len(chunks)))]
    return _flip_bits(data, rng, end - 4, end)


def _png_remove_chunk(data: bytes, rng) -> bytes:
    chunks = png_chunks(data)
    _, start, end = chunks[int(rng.integers(len(chunks)))]
    return data[:start] + data[end:]


JPEG_MUTATIONS: dict[str, Mutator] = {
    "jpeg truncated": _truncate,
    "jpeg entropy bit flips": _jpeg_entropy_flips,
    "jpeg bytes inserted/deleted": _insert_or_delete,
    "jpeg header fields": _jpeg_header_field,
    "jpeg marker removed": _jpeg_remove_marker,
}
PNG_MUTATIONS: dict[str, Mutator] = {
    "png truncated": _truncate,
    "png pixel bit flips": _png_pixel_flips,
    "png bytes inserted/deleted": _insert_or_delete,
    "png header fields": _png_header_field,
    "png CRC damaged": _png_crc_damage,
    "png chunk removed": _png_remove_chunk,
}


def make_corpus(folder: Path, seed: int, per_category: int) -> dict[Path, str]:
    """Mutated file -> its category: ``per_category`` files of each, from seeds drawn anew
    for every 20 files."""
    rng = np.random.default_rng(seed)
    corpus: dict[Path, str] = {}
    mutations = [(m, ".jpg") for m in JPEG_MUTATIONS.items()] + [(m, ".png") for m in PNG_MUTATIONS.items()]
    for start in range(0, per_category, 20):
        seeds_dir = folder / f"seeds{start}"
        seeds_dir.mkdir(parents=True)
        seeds = [p.read_bytes() for p in seed_images(seeds_dir, rng).values()]
        for (category, mutate), suffix in mutations:
            pool = [s for s in seeds if s.startswith(b"\xff\xd8") == (suffix == ".jpg")]
            for i in range(start, min(start + 20, per_category)):
                path = folder / f"{category.replace(' ', '_').replace('/', '_')}-{i}{suffix}"
                path.write_bytes(mutate(pool[int(rng.integers(len(pool)))], rng))
                corpus[path] = category
    return corpus


# ---- programs under test ----------------------------------------------------------------

def _reject_nan(constant: str):
    raise ValueError(f"{constant} is not JSON")


def _cli_batch(proc: subprocess.CompletedProcess, files: list[str], prefix: str) -> dict[str, str] | None:
    """Each file's outcome from one run over all of them, or None when anything is
    unexplained."""
    if proc.returncode not in (0, 1):
        return None
    out: dict[str, str] = {}
    try:
        for line in proc.stdout.splitlines():
            out[json.loads(line, parse_constant=_reject_nan)["image"]] = "answered"
    except (ValueError, KeyError, TypeError):
        return None
    names = sorted(files, key=len, reverse=True)  # the longest name a line starts with
    for line in proc.stderr.splitlines():
        path = next((f for f in names if line.startswith(f"{prefix}{f}: ")), None)
        if path is None or path in out:
            return None
        out[path] = "refused"
    return out if sorted(out) == sorted(files) else None


def _cli_run(cmd: list[str], names: list[str], prefix: str) -> dict[str, str]:
    """Outcomes of one run over ``names``; a run whose output is not fully explained is
    split in two and run again, down to the single files that crash."""
    try:
        proc = subprocess.run([*cmd, *names], capture_output=True, text=True, timeout=TIMEOUT_S + 2 * len(names))
        batch = _cli_batch(proc, names, prefix)
    except subprocess.TimeoutExpired:
        batch = None
    if batch is not None:
        return batch
    if len(names) == 1:
        return {names[0]: "crashed"}
    half = len(names) // 2
    return {**_cli_run(cmd, names[:half], prefix), **_cli_run(cmd, names[half:], prefix)}


def cli_outcomes(cmd: list[str], files: list[Path], prefix: str) -> dict[Path, str]:
    """Outcome of each file under the command line ``cmd`` + files (BATCH files a run, to
    keep within the limits on arguments), whose refusals are stderr lines ``prefix`` +
    path + ": why"."""
    names = [str(f) for f in files]
    out: dict[str, str] = {}
    for i in range(0, len(names), BATCH):
        out.update(_cli_run(cmd, names[i:i + BATCH], prefix))
    return {Path(n): out[n] for n in names}


def infer_outcomes(model: Path, files: list[Path]) -> dict[Path, str]:
    return cli_outcomes([str(INFER), str(model), "--threads", "1"], files, "fastkp-infer: ")


def predict_outcomes(model: Path, files: list[Path]) -> dict[Path, str]:
    return cli_outcomes([sys.executable, "-m", "fastkp.predict", str(model)], files, "fastkp.predict: ")


_VERIFY = ("import json, sys; from fastkp._verify import verify_images; "
           "print(json.dumps(verify_images(json.load(sys.stdin), 2)))")


def _verify_run(names: list[str]) -> dict[str, str]:
    """Outcomes under verify_images in a subprocess (a crash is counted, not fatal);
    split in two and run again, down to single files, when that process fails."""
    try:
        proc = subprocess.run([sys.executable, "-c", _VERIFY], input=json.dumps(names), capture_output=True,
                              text=True, timeout=TIMEOUT_S + len(names))
    except subprocess.TimeoutExpired:
        proc = None
    if proc is None or proc.returncode != 0:
        if len(names) == 1:
            return {names[0]: "crashed"}
        half = len(names) // 2
        return {**_verify_run(names[:half]), **_verify_run(names[half:])}
    out = {}
    for name, reason in zip(names, json.loads(proc.stdout)):
        one_line = reason is not None and "\n" not in reason and reason.startswith(f"{name}: ")
        out[name] = "answered" if reason is None else "refused" if one_line else "crashed"
    return out


def verify_outcomes(files: list[Path]) -> dict[Path, str]:
    """Outcome of each file under fastkp._verify.verify_images: None is answered, one
    line naming the file refused."""
    out = _verify_run([str(f) for f in files])
    return {f: out[str(f)] for f in files}


def count(corpus: dict[Path, str], outcomes: dict[Path, str]) -> dict[str, Counter]:
    """category -> Counter of outcomes (and 'tried')."""
    table: dict[str, Counter] = {}
    for path, category in corpus.items():
        table.setdefault(category, Counter()).update(["tried", outcomes[path]])
    return table


def format_table(tables: dict[str, dict[str, Counter]]) -> str:
    """One block per program: category, tried, refused, answered, crashed, then a total."""
    lines = []
    for program, table in tables.items():
        total = sum(table.values(), Counter())
        lines.append(f"{program:<30} {'tried':>6} " + " ".join(f"{o:>8}" for o in OUTCOMES))
        for category, c in [*table.items(), ("total", total)]:
            lines.append(f"  {category:<28} {c['tried']:>6} " + " ".join(f"{c[o]:>8}" for o in OUTCOMES))
    return "\n".join(lines)


# ---- pt2 packages: their compiled library cut short or pointing past its end -------------

PT2_LIBRARY = "data/aotinductor/model/model.so"


def pt2_package(path: Path, library: bytes) -> Path:
    """A pt2 package as far as the checks before loading see it (fastkp.json and one compiled
    library at PT2_LIBRARY), without an AOTInductor compile."""
    from torch.export.pt2_archive import PT2ArchiveWriter

    from support.model_files import record

    point = {"name": "keypoints", "kind": "keypoints", "n_keypoints": 1, "y_range": [-1, 1]}
    with PT2ArchiveWriter(str(path)) as w:
        w.write_string("extra/fastkp.json", json.dumps({**record(point), "export_format": "pt2", "device": "cpu"}))
        w.write_bytes(PT2_LIBRARY, library)
    return path


def _elf_tables(lib: bytes) -> list[tuple[int, int]]:
    """(position of the offset field, of the size field) of every ELF64 program header and
    every section header but SHT_NOBITS (no bytes in the file)."""
    phoff, shoff = struct.unpack_from("<QQ", lib, 32)
    phsize, phnum, shsize, shnum = struct.unpack_from("<HHHH", lib, 54)
    programs = [(phoff + i * phsize + 8, phoff + i * phsize + 32) for i in range(phnum)]
    sections = [(shoff + i * shsize + 24, shoff + i * shsize + 32) for i in range(shnum)
                if struct.unpack_from("<I", lib, shoff + i * shsize + 4)[0] != 8]
    return programs + sections


def damaged_libraries(lib: bytes, seed: int, n: int) -> dict[str, bytes]:
    """``n`` damaged copies of the ELF64 library ``lib``, each cut short (past its header) or
    with one header's offset or size moved past its end: every one must be refused before
    anything maps it."""
    rng = np.random.default_rng(seed)
    tables = _elf_tables(lib)
    out = {}
    for i in range(n):
        if i % 2 == 0:
            out[f"truncated-{i}"] = lib[:int(rng.integers(64, len(lib)))]
            continue
        damaged = bytearray(lib)
        offset_at, size_at = tables[int(rng.integers(len(tables)))]
        field = (offset_at, size_at)[int(rng.integers(2))]
        past = len(lib) + int(rng.integers(1, 1 << int(rng.integers(1, 62))))
        damaged[field:field + 8] = past.to_bytes(8, "little")
        out[f"header-{i}"] = bytes(damaged)
    return out
