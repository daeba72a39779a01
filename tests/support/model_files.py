"""Model files made by hand: an exported file with its fastkp.json rewritten or removed,
damaged and foreign files, crafted archives, and scripted modules saved with a fastkp.json
record written here."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch


def rewrite_metadata(src, dst, text: str | None):
    """Copy the zip ``src`` to ``dst`` with fastkp.json replaced (None: removed)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename.endswith("extra/fastkp.json"):
                if text is not None:
                    zout.writestr(item, text)
            else:
                zout.writestr(item, zin.read(item))
    return dst


def bad_model_files(good, ckpt, tmp_path):
    """name -> (path, what the error says). Also used by the C++ tests."""
    meta = json.loads(zipfile.ZipFile(good).read(next(n for n in zipfile.ZipFile(good).namelist()
                                                        if n.endswith("extra/fastkp.json"))))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    plain = tmp_path / "plain.pt"
    torch.jit.save(torch.jit.script(torch.nn.ReLU()), str(plain))
    return {
        "missing": (tmp_path / "missing.pt", "no such model file"),
        "garbage": (garbage, "not a fastkp model file"),
        "truncated": (truncated, "not a fastkp model file"),
        "empty": (empty, "not a fastkp model file"),
        "checkpoint": (ckpt, "not a TorchScript file or pt2 package"),
        "plain TorchScript": (plain, "without extra/fastkp.json"),
        "no metadata": (rewrite_metadata(good, tmp_path / "nometa.pt", None), "without extra/fastkp.json"),
        "bad JSON": (rewrite_metadata(good, tmp_path / "badjson.pt", "{not json"), "fastkp.json"),
        "foreign JSON": (rewrite_metadata(good, tmp_path / "foreign.pt", '{"task": "x"}'), "fastkp-model"),
        "future version": (rewrite_metadata(good, tmp_path / "v9.pt", json.dumps({**meta, "version": 9})),
                           "version"),
        "missing field": (rewrite_metadata(good, tmp_path / "nofield.pt",
                                           json.dumps({k: v for k, v in meta.items() if k != "input_size"})),
                          "input_size"),
        "wrong format": (rewrite_metadata(good, tmp_path / "fmt.pt", json.dumps({**meta, "export_format": "pt2"})),
                         "pt2"),
    }


def unsafe_archives(good, tmp_path):
    """name -> (crafted copy of the zip ``good``, what the error says). Also used by the C++ tests."""
    import stat

    with zipfile.ZipFile(good) as z:
        root = z.namelist()[0].split("/", 1)[0]
        record = next(n for n in z.namelist() if n.endswith("extra/fastkp.json"))
        meta = z.read(record)

    def crafted(name: str, add) -> Path:
        out = tmp_path / f"{name}.pt"
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(out, "w") as zout:
            for item in zin.infolist():
                if not (name == "huge metadata" and item.filename == record):
                    zout.writestr(item, zin.read(item))
            add(zout)
        return out

    link = zipfile.ZipInfo(f"{root}/data/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    return {
        "climbs out": (crafted("climb", lambda z: z.writestr(f"{root}/data/../../../../x.json", b"{}")),
                       "points outside the archive"),
        "absolute": (crafted("absolute", lambda z: z.writestr("/tmp/fastkp-x.json", b"{}")),
                     "points outside the archive"),
        "symbolic link": (crafted("link", lambda z: z.writestr(link, b"/etc/passwd")), "symbolic link"),
        "two fastkp.json": (crafted("twice", lambda z: z.writestr(record, meta)), "appears twice"),
        "two roots' fastkp.json": (crafted("roots", lambda z: z.writestr(f"other/{record}", meta)),
                                   "2 entries named extra/fastkp.json"),
        "huge metadata": (crafted("huge metadata", lambda z: z.writestr(record, meta + b" " * (2 << 20))),
                          "refusing the file"),
        # torch's zip reader finds entries ignoring case: a second record in capitals is one too
        "FASTKP.JSON in capitals": (
            crafted("capitals", lambda z: z.writestr(record.upper(), meta + b" " * (2 << 20))), "appears twice"),
        "entry in two cases": (crafted("cases", lambda z: z.writestr(f"{root}/DATA.PKL", b"x")), "appears twice"),
    }


def record(*heads: dict) -> dict:
    return {"format": "fastkp-model", "version": 2, "task": "test", "arch": "mean-colour", "input_size": [8, 8],
            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "export_format": "torchscript", "device": "any",
            "resize": "none", "fastkp_version": "0", "torch_version": str(torch.__version__),
            "colour_space": "sRGB",  # a key this fastkp-infer does not know: ignored
            "heads": list(heads)}


def save_model(path, module: torch.nn.Module, meta: dict):
    torch.jit.save(torch.jit.script(module), str(path), _extra_files={"fastkp.json": json.dumps(meta)})
    return path
