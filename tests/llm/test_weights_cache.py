"""The cache of dequantised GGUF weights, with the real embedded model: a miss dequantises and
stores, a hit loads the very same tensors and tokenizer and gives token-identical greedy replies;
a damaged entry (flipped byte, truncated file, broken manifest) is detected, removed with a
warning and rebuilt; writes are atomic; with the cache off nothing is written.

Two real GGUF loads (~20 s each on a slow core): the plain one with the cache off, and the miss.
"""

from __future__ import annotations

import json
import logging
import os
import shutil

import pytest

from mmsynth.llm import GenerationParams, make_backend, models
from mmsynth.llm.weights_cache import (
    MANIFEST,
    WEIGHTS,
    WeightsCache,
    WeightsKey,
    default_cache_dir,
)

REQUESTS = [[{"role": "user", "content": "Describe a photo of a cat on a red chair."}],
            [{"role": "system", "content": "You answer in one short sentence."},
             {"role": "user", "content": "What is on a kitchen table, usually?"}]]
PARAMS = GenerationParams(max_new_tokens=24)  # greedy


def fresh_backend(**options):
    """A backend whose load really loads (the process's memo of loaded models emptied)."""
    return make_backend("transformers", batch_size=2, device="cpu", threads=1, **options)


@pytest.fixture(scope="module")
def loads(tmp_path_factory):
    """The embedded model loaded three ways, each in a fresh memo: from the GGUF file with the
    weights cache off (the default cache folder pointed at an empty tmp dir), then with a cache
    folder: a miss, then a hit. Their backends, replies to REQUESTS, and the cache folder."""
    folder = tmp_path_factory.mktemp("weights")
    default = tmp_path_factory.mktemp("default-cache")
    out = {"folder": folder, "default": default}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMSYNTH_CACHE", str(default))
        for name, options in (("plain", {"weights_cache": False}),
                              ("miss", {"weights_cache_dir": folder}),
                              ("hit", {"weights_cache_dir": folder})):
            patch.setattr(models, "_LOADED", {})
            backend = fresh_backend(**options)
            out[name] = (backend, backend.generate(REQUESTS, PARAMS))
    return out


def test_off_reads_the_gguf_file_and_writes_nothing(loads):
    backend, replies = loads["plain"]
    assert backend.weights_cache is None and backend._loaded.origin == "gguf"
    assert all(g.ok and g.text.strip() for g in replies)
    assert list(loads["default"].iterdir()) == []


def test_a_miss_stores_and_a_hit_loads_the_same_model(loads):
    import torch

    miss, hit = loads["miss"][0], loads["hit"][0]
    assert miss._loaded.origin == "gguf, now cached" and hit._loaded.origin == "weights cache"
    [entry] = [p for p in loads["folder"].iterdir() if not p.name.startswith(".")]
    assert (entry / MANIFEST).is_file() and (entry / WEIGHTS).stat().st_size > 500e6
    plain = loads["plain"][0]._loaded
    expected, got = plain.model.state_dict(), hit._loaded.model.state_dict()
    assert list(got) == list(expected)
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    model = hit._loaded.model
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert {k: v for k, v in hit._loaded.model.config.to_dict().items()
            if k not in ("_name_or_path", "architectures")} == \
        {k: v for k, v in plain.model.config.to_dict().items()
         if k not in ("_name_or_path", "architectures", "quantization_config")}
    assert (hit._loaded.eos_ids, hit._loaded.pad_id, hit._loaded.max_context) == \
        (plain.eos_ids, plain.pad_id, plain.max_context)
    text = "A dog's   ball — émoji 🙂\n\nline"
    assert hit.tokenizer(text)["input_ids"] == plain.tokenizer(text)["input_ids"]
    assert hit.render(REQUESTS[1]) == loads["plain"][0].render(REQUESTS[1])


def test_replies_are_token_identical_on_every_path(loads):
    expected = loads["plain"][1]
    assert loads["miss"][1] == expected and loads["hit"][1] == expected  # text and token counts


def hit_model(loads):
    loaded = loads["hit"][0]._loaded
    return loaded.tokenizer, loaded.model, loaded.dtype


def embedded_key(dtype) -> WeightsKey:
    source = models.resolve_model(None)
    return WeightsKey.of(os.path.join(source.location, source.gguf_file), dtype)


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "manifest", "other key",
                                    "file missing"])
def test_a_damaged_entry_is_removed_with_a_warning_and_rebuilt(loads, tmp_path, caplog, damage):
    tokenizer, model, dtype = hit_model(loads)
    key = embedded_key(dtype)
    cache = WeightsCache(tmp_path)
    entry = cache.store(key, tokenizer, model)
    assert entry == cache.entry(key) and cache.load(key, dtype) is not None
    weights = entry / WEIGHTS
    if damage == "flipped byte":  # same size: only the digest can tell
        with open(weights, "r+b") as f:
            f.seek(weights.stat().st_size // 2)
            byte = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([byte[0] ^ 0x40]))
    elif damage == "truncated":
        os.truncate(weights, weights.stat().st_size - 4096)
    elif damage == "manifest":
        (entry / MANIFEST).write_text('{"files": ')
    elif damage == "other key":
        manifest = json.loads((entry / MANIFEST).read_text())
        manifest["key"]["transformers"] = "0.0.1"
        (entry / MANIFEST).write_text(json.dumps(manifest))
    else:
        (entry / "tokenizer.json").unlink()
    with caplog.at_level(logging.WARNING, logger="mmsynth.llm.weights_cache"):
        assert cache.load(key, dtype) is None
    assert "unusable" in caplog.text and "rebuilding it" in caplog.text
    assert not entry.exists()  # removed, so the next load stores a fresh copy
    assert cache.store(key, tokenizer, model) == entry
    _, model2 = cache.load(key, dtype)
    assert model2.model.norm.weight.equal(model.model.norm.weight)


def test_a_damaged_entry_is_rebuilt_by_the_next_load(loads, tmp_path, monkeypatch):
    """The load path end to end: a corrupt entry → the GGUF file is read again and the entry
    rewritten (a miss), and the model loads as on a hit after. On a copy of the entry: the
    loaded models map their entry's weights file, which is never changed in place."""
    [entry] = [p for p in loads["folder"].iterdir() if not p.name.startswith(".")]
    shutil.copytree(entry, tmp_path / entry.name)
    os.truncate(tmp_path / entry.name / WEIGHTS, 1000)
    monkeypatch.setattr(models, "_LOADED", {})
    backend = fresh_backend(weights_cache_dir=tmp_path)
    assert backend.generate(REQUESTS, PARAMS) == loads["plain"][1]
    assert backend._loaded.origin == "gguf, now cached"
    monkeypatch.setattr(models, "_LOADED", {})
    again = fresh_backend(weights_cache_dir=tmp_path)
    again.load()
    assert again._loaded.origin == "weights cache"


def test_writes_are_atomic_and_the_first_writer_wins(loads, tmp_path):
    tokenizer, model, dtype = hit_model(loads)
    key = embedded_key(dtype)
    cache = WeightsCache(tmp_path)
    # a writer killed mid-write leaves a temp folder: never read, removed once it is old
    left = tmp_path / f".tmp-{key.name}-99999-deadbeef"
    left.mkdir()
    (left / WEIGHTS).write_bytes(b"half")
    assert cache.load(key, dtype) is None
    first = cache.store(key, tokenizer, model)
    stamp = (first / MANIFEST).stat().st_mtime_ns
    assert cache.store(key, tokenizer, model) == first  # a second racer keeps the first copy
    assert (first / MANIFEST).stat().st_mtime_ns == stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, left.name])
    os.utime(left, (0, 0))
    shutil.rmtree(first)
    assert cache.store(key, tokenizer, model) == first  # a later write sweeps it
    assert not left.exists()


def test_a_cache_that_cannot_be_written_is_a_warning(loads, tmp_path, caplog):
    tokenizer, model, dtype = hit_model(loads)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="mmsynth.llm.weights_cache"):
        assert WeightsCache(blocked / "sub").store(embedded_key(dtype), tokenizer, model) is None
    assert "could not cache the dequantised model" in caplog.text


def test_the_key_names_what_decides_the_tensors(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF one")
    key = WeightsKey.of(gguf, "torch.float32")
    assert key.dtype == "float32" and key.transformers not in ("", "none")
    names = {key.name, WeightsKey.of(gguf, "bfloat16").name,
             WeightsKey(key.gguf_sha256, "float32", "9.9.9", key.gguf).name,
             WeightsKey(key.gguf_sha256, "float32", key.transformers, "0.0").name,
             WeightsKey(key.gguf_sha256, "float32", key.transformers, key.gguf, 99).name}
    assert len(names) == 5
    os.utime(gguf, ns=(1, 1))
    gguf.write_bytes(b"GGUF two")  # new bytes: a new key, whatever the path
    assert WeightsKey.of(gguf, "float32").name != key.name


def test_the_default_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MMSYNTH_CACHE", str(tmp_path / "m"))
    assert default_cache_dir() == tmp_path / "m" / "llm-weights"
    monkeypatch.delenv("MMSYNTH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "mmsynth" / "llm-weights"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert default_cache_dir() == tmp_path / "h" / ".cache" / "mmsynth" / "llm-weights"


def test_the_options_reach_the_backend(tmp_path):
    from mmsynth.llm import LLM_OPTIONS, backend_from_config

    defaults = {name: option.default for name, option in LLM_OPTIONS.items()}
    on = backend_from_config({**defaults, "llm_cache": "off",
                              "llm_weights_cache_dir": str(tmp_path)})
    assert on.weights_cache.root == tmp_path
    off = backend_from_config({**defaults, "llm_cache": "off", "llm_weights_cache": "off"})
    assert off.weights_cache is None
    assert "expected one of" in LLM_OPTIONS["llm_weights_cache"].check("yes")
