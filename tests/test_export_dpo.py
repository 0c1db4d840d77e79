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

And one real DPO step: TRL's ``DPOTrainer`` trains a tiny randomly initialised LLaVA (a CLIP
vision tower, a Llama decoder, built offline from configs, with a ``LlavaProcessor``) on the
export as it is, images included.
"""

from __future__ import annotations

import json
from collections import Counter
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


def dpo_step(out: Path, steps: int = 1) -> dict:
    """``steps`` DPO steps of TRL's ``DPOTrainer`` on the TRL export in ``out``, unchanged but for
    its image paths made absolute (TRL's vision DPO loads them with ``datasets``' Image), on a
    tiny LLaVA (tests/tiny_vlm.py); returns what the step showed."""
    import copy

    import torch
    from datasets import Image, List, load_dataset
    from trl import DPOConfig, DPOTrainer

    from tests.tiny_vlm import tiny_llava

    ds = load_dataset("json", data_files=str(out / "dpo.jsonl"), split="train")
    model, processor = tiny_llava([part.get("text") or "" for row in ds
                                   for m in row["prompt"] + row["chosen"] + row["rejected"]
                                   for part in m["content"]])
    before = {n: t.detach().clone() for n, t in model.named_parameters()}
    ds = ds.map(lambda row: {"images": [str(out / p) for p in row["images"]]})
    ds = ds.cast_column("images", List(Image())).select_columns(
        ["prompt", "chosen", "rejected", "images"])
    args = DPOConfig(output_dir=str(out / "dpo-run"), max_steps=steps,
                     per_device_train_batch_size=2, learning_rate=1e-3, use_cpu=True,
                     report_to=[], logging_steps=1, save_strategy="no", max_length=None,
                     dataloader_num_workers=0, seed=0)
    trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(model).eval(), args=args,
                         train_dataset=ds, processing_class=processor)
    batch = trainer.data_collator([ds[0], ds[1]])
    trainer.train()
    changed = {n.split(".")[1] if n.startswith("model.") else n.split(".")[0]
               for n, t in model.named_parameters() if not torch.equal(before[n], t)}
    return {"log": trainer.state.log_history[0], "batch": batch, "changed": changed,
            "image_token": processor.tokenizer.convert_tokens_to_ids("<image>")}


def check_dpo_step(out: Path) -> None:
    """One DPO step on the export: the collator fed the pictures to the model, the loss was
    DPO's at its start (policy = reference: ln 2), and every part of the model learned,
    the vision tower and its projector too (the gradient went through the images)."""
    import math

    step = dpo_step(out)
    batch, log = step["batch"], step["log"]
    # chosen and rejected rows of 2 pairs, each with its picture's 4 image tokens
    assert batch["pixel_values"].shape == (4, 3, 32, 32)
    assert ((batch["input_ids"] == step["image_token"]).sum(dim=1) == 4).all()
    assert batch["completion_mask"].sum(dim=1).min() > 0
    assert math.isclose(log["loss"], math.log(2), rel_tol=1e-4)
    assert log["grad_norm"] > 0 and math.isfinite(log["grad_norm"])
    assert log["logps/chosen"] != log["logps/rejected"]
    assert {"vision_tower", "multi_modal_projector", "language_model", "lm_head"} <= \
        step["changed"], step["changed"]


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
    from tests.conftest import read_records

    return read_records(run_dir)


def test_trl_export_passes_trl_s_preparation(geometry_prefs, tmp_path):
    result = export_dpo(str(geometry_prefs), str(tmp_path / "trl"))
    records = _records(geometry_prefs)
    assert result["rows"] == check_trl(tmp_path / "trl", records) > 20
    kinds = Counter(p["kind"] for r in records for p in r.get("preference", []))
    assert result["by_kind"] == dict(sorted(kinds.items())), result
    assert set(kinds) == {"perturbed_scene", "wrong_step"} and sum(kinds.values()) == result["rows"]


def test_trl_s_dpo_trainer_takes_a_step_on_the_export(geometry_prefs, tmp_path):
    export_dpo(str(geometry_prefs), str(tmp_path / "trl"))
    check_dpo_step(tmp_path / "trl")


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
