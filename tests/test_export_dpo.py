"""``mmsynth export dpo`` (issue 17): the pairs of a real run, read by the consumers' own code.

TRL: the export loads with ``datasets``, each row is conversational by TRL's
``is_conversational``, ``prepare_multimodal_messages`` fills its image placeholder with the
loaded image, and ``maybe_apply_chat_template`` renders prompt / chosen / rejected through a
tokenizer's chat template (a tiny word-level tokenizer built here, offline). LLaMA-Factory: its
sharegpt converter's rules for a ranking dataset, written out (LLaMA-Factory itself is not
installable here): the ``dataset_info.json`` entry names the row's columns, messages alternate
user / assistant tags from the first, a ranking prompt has an odd number of messages, chosen and
rejected are assistant messages, and the ``<image>`` tokens match the images, which exist
relative to the dataset folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmsynth.export import export_dpo, main
from mmsynth.run import run


@pytest.fixture(scope="module")
def geometry_prefs(tmp_path_factory):
    out = tmp_path_factory.mktemp("geo-prefs")
    run({"source": "geometry", "num_samples": 40, "shard_size": 20, "seed": 5, "out": str(out),
         "preference_pairs": 2, "clip_mode": "off", "progress": False})
    return out


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]")
    tok.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{% for p in m['content'] %}"
        "{% if p['type'] == 'image' %}<image>{% else %}{{ p['text'] }}{% endif %}"
        "{% endfor %}<|end|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}")
    return tok


def check_trl(out: Path, records: list[dict]) -> int:
    """The TRL export in ``out`` against the run's ``records``; returns its rows."""
    from datasets import Image, List, load_dataset
    from trl.data_utils import (
        is_conversational,
        maybe_apply_chat_template,
        prepare_multimodal_messages,
    )

    pairs = {f"{r['id']}-pair{k}": (r, p) for r in records
             for k, p in enumerate(r.get("preference", []))}
    ds = load_dataset("json", data_files=str(out / "dpo.jsonl"), split="train")
    assert set(ds.column_names) >= {"prompt", "chosen", "rejected", "images"}
    ds = ds.map(lambda row: {"images": [str(out / p) for p in row["images"]]})
    ds = ds.cast_column("images", List(Image()))
    assert len(ds) == len(pairs)
    tok = _tokenizer()
    for row in ds:
        record, pair = pairs[row["id"]]
        assert is_conversational(row)
        assert row["prompt"][-1]["role"] == "user"
        assert row["images"][0].size == (record["annotations"]["width"],
                                          record["annotations"]["height"]) \
            if record.get("annotations") else row["images"][0].size[0] > 0
        filled = prepare_multimodal_messages(row["prompt"], row["images"])
        assert sum(p["type"] == "image" and "image" in p
                   for m in filled for p in m["content"]) == 1
        text = maybe_apply_chat_template(
            {k: row[k] for k in ("prompt", "chosen", "rejected")}, tok)
        assert text["prompt"].count("<image>") == 1
        assert text["prompt"].endswith("<|assistant|>")
        assert text["chosen"] == pair["chosen"] + "<|end|>\n"
        assert text["rejected"] == pair["rejected"] + "<|end|>\n"
    return len(ds)


def check_llamafactory(out: Path, records: list[dict]) -> int:
    """LLaMA-Factory's sharegpt converter's rules for a ranking dataset over the export."""
    info = json.loads((out / "dataset_info.json").read_text())
    entry = info["mmsynth_dpo"]
    assert entry["formatting"] == "sharegpt" and entry["ranking"] is True
    cols, tags = entry["columns"], entry["tags"]
    rows = json.loads((out / entry["file_name"]).read_text())
    user, assistant = (tags["user_tag"],), (tags["assistant_tag"],)
    role, content = tags["role_tag"], tags["content_tag"]
    pairs = [p for r in records for p in r.get("preference", [])]
    assert len(rows) == len(pairs)
    for row, pair in zip(rows, pairs, strict=True):
        messages = row[cols["messages"]]
        for i, m in enumerate(messages):
            assert m[role] in (user, assistant)[i % 2], messages
        assert len(messages) % 2 == 1  # a ranking prompt ends with the user's turn
        for side in ("chosen", "rejected"):
            answer = row[cols[side]]
            assert isinstance(answer, dict) and answer[role] in assistant
            assert answer[content] == pair[side]
        images = row[cols["images"]]
        assert sum(m[content].count("<image>") for m in messages) == len(images) == 1
        assert (out / images[0]).is_file()
    return len(rows)


def _records(run_dir: Path) -> list[dict]:
    from tests.conftest import read_shards

    return [json.loads(m["json"]) for m in read_shards(run_dir).values()]


def test_trl_export_passes_trl_s_preparation(geometry_prefs, tmp_path):
    result = export_dpo(str(geometry_prefs), str(tmp_path / "trl"))
    records = _records(geometry_prefs)
    assert result["rows"] == check_trl(tmp_path / "trl", records) > 20
    assert result["by_kind"] == {"perturbed_scene": result["rows"]}


def test_llamafactory_export_passes_its_sharegpt_converter_rules(geometry_prefs, tmp_path):
    out = tmp_path / "lf"
    out.mkdir()
    (out / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "x.json"}}))
    assert main(["dpo", str(geometry_prefs), str(out), "--format", "llamafactory"]) == 0
    rows = check_llamafactory(out, _records(geometry_prefs))
    assert rows > 20
    # An existing dataset_info.json keeps its other entries.
    assert set(json.loads((out / "dataset_info.json").read_text())) == {"mine", "mmsynth_dpo"}


def test_a_run_without_pairs_and_a_bad_format_are_clear_errors(tmp_path, capsys):
    plain = tmp_path / "plain"
    run({"source": "geometry", "num_samples": 4, "out": str(plain), "clip_mode": "off",
         "progress": False})
    assert main(["dpo", str(plain), str(tmp_path / "x")]) == 2
    assert "no preference pairs" in capsys.readouterr().err
    assert main(["dpo", str(plain), str(tmp_path / "x"), "--format", "axolotl"]) == 2
    assert "expected one of trl, llamafactory" in capsys.readouterr().err
    # Never into a run folder.
    assert main(["dpo", str(plain), str(plain / "dpo")]) == 2


def test_the_preview_shows_pairs_side_by_side_with_the_difference_marked(geometry_prefs,
                                                                          tmp_path):
    import html

    from mmsynth.preview import write_preview

    page = tmp_path / "p.html"
    write_preview(str(geometry_prefs), str(page), n=40)
    text = page.read_text()
    records = [r for r in _records(geometry_prefs) if r.get("preference")]
    assert text.count('<table class="pair">') == len(records)
    pair = records[0]["preference"][0]
    question = pair["prompt"][-1]["value"].split("\n")[-1]  # after the <image> line
    assert html.escape(question, quote=False) in text
    # Each side's changed words are marked: the rejected answer's wrong number among them.
    assert '<mark class="rejected">' in text and '<mark class="chosen">' in text
