"""``mmsynth export messages``, ``export llamafactory`` and ``export llava --single_turn``
(issue 20, item 2), read by the consumers' own code where it installs.

TRL: the messages export loads with ``datasets``, every row is conversational by TRL's
``is_conversational``, ``prepare_multimodal_messages`` puts the loaded picture in its one image
part, a chat template renders one ``<image>`` per picture and no literal ``<image>`` is left in
any text part; and TRL's ``SFTTrainer`` takes training steps on the export as it is (image paths
made absolute) with a tiny LLaVA built offline. LLaMA-Factory (not installable here): its
sharegpt converter's rules, written out. LLaVA's stage-1 ``preprocess_plain`` asserts, written
out: two turns, the image token in the first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmsynth.export import export_llamafactory, export_llava, export_messages, main
from mmsynth.run import run
from mmsynth.sample import IMAGE_TOKEN
from tests.test_export_dpo import _records, _tokenizer
from tests.tiny_vlm import tiny_llava


@pytest.fixture(scope="module")
def mixed_runs(tmp_path_factory):
    """A geometry and a chart run (multi-turn samples, PNG images)."""
    runs = []
    for source in ("geometry", "chart"):
        out = tmp_path_factory.mktemp(f"chat-{source}")
        run({"source": source, "num_samples": 12, "shard_size": 6, "seed": 2, "out": str(out),
             "clip_mode": "off", "progress": False})
        runs.append(out)
    return runs


def _load_messages(path: Path):
    from datasets import Image, List, load_dataset

    ds = load_dataset("json", data_files=str(path), split="train")
    ds = ds.map(lambda row: {"images": [str(path.parent / p) for p in row["images"]]})
    return ds.cast_column("images", List(Image()))


def test_messages_export_passes_trl_s_preparation(mixed_runs, tmp_path):
    from trl.data_utils import (
        is_conversational,
        maybe_apply_chat_template,
        prepare_multimodal_messages,
    )

    tok = _tokenizer()
    for run_dir in mixed_runs:
        out = tmp_path / run_dir.name / "messages.jsonl"
        result = export_messages(str(run_dir), str(out))
        records = {r["id"]: r for r in _records(run_dir)}
        assert result["rows"] == len(records) > 0
        ds = _load_messages(out)
        assert set(ds.column_names) == {"id", "messages", "images"}
        for row in ds:
            record = records[row["id"]]
            assert is_conversational(row)
            turns = record["conversations"]
            assert [m["role"] for m in row["messages"]] == \
                ["user" if t["from"] == "human" else "assistant" for t in turns]
            texts = [p["text"] for m in row["messages"] for p in m["content"]
                     if p["type"] == "text"]
            assert not any(IMAGE_TOKEN in t for t in texts)
            assert texts == [t["value"].removeprefix(f"{IMAGE_TOKEN}\n") for t in turns]
            filled = prepare_multimodal_messages(row["messages"], row["images"])
            assert sum(p["type"] == "image" and "image" in p
                       for m in filled for p in m["content"]) == 1
            assert row["images"][0].size == (448, 448)
            text = maybe_apply_chat_template({"messages": row["messages"]}, tok)["text"]
            assert text.count("<image>") == 1


def test_trl_s_sft_trainer_trains_on_the_messages_export(mixed_runs, tmp_path):
    import math

    import torch
    from trl import SFTConfig, SFTTrainer

    out = tmp_path / "messages.jsonl"
    export_messages(str(mixed_runs[0]), str(out))
    ds = _load_messages(out).select_columns(["messages", "images"])
    model, processor = tiny_llava([p.get("text") or "" for row in ds for m in row["messages"]
                                    for p in m["content"]])
    before = {n: t.detach().clone() for n, t in model.named_parameters()}
    args = SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=3, per_device_train_batch_size=2,
                     learning_rate=1e-3, use_cpu=True, report_to=[], logging_steps=1,
                     save_strategy="no", max_length=None, dataloader_num_workers=0, seed=0)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=processor)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    changed = {n for n, t in model.named_parameters() if not torch.equal(before[n], t)}
    assert any("vision_tower" in n for n in changed) and any("lm_head" in n for n in changed)


def test_llamafactory_export_passes_its_sharegpt_converter_rules(mixed_runs, tmp_path):
    out = tmp_path / "lf"
    (out).mkdir()
    (out / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "x.json"}}))
    total = 0
    for run_dir in mixed_runs:  # both runs into one folder: one entry, the last run's rows
        result = export_llamafactory(str(run_dir), str(out))
        total = result["rows"]
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"mine", "mmsynth_sft"}  # the user's entry kept
    entry = info["mmsynth_sft"]
    assert entry["formatting"] == "sharegpt" and "ranking" not in entry
    cols, tags = entry["columns"], entry["tags"]
    rows = json.loads((out / entry["file_name"]).read_text())
    assert len(rows) == total
    records = {r["id"]: r for r in _records(mixed_runs[-1])}
    for row in rows:
        messages = row[cols["messages"]]
        for i, m in enumerate(messages):  # user / assistant alternate, from the user
            assert m[tags["role_tag"]] == (tags["user_tag"], tags["assistant_tag"])[i % 2]
        assert len(messages) % 2 == 0
        images = row[cols["images"]]
        assert sum(m[tags["content_tag"]].count("<image>") for m in messages) == len(images) == 1
        assert messages[0][tags["content_tag"]].startswith("<image>")
        assert (out / images[0]).is_file()
        assert [m["content"] for m in messages] == \
            [t["value"] for t in records[row["id"]]["conversations"]]


def test_llava_single_turn_rows_pass_the_plain_template_s_asserts(mixed_runs, tmp_path, capsys):
    run_dir = mixed_runs[1]
    out = tmp_path / "llava.json"
    assert main(["llava", str(run_dir), str(out), "--single_turn"]) == 0
    assert "rows" in capsys.readouterr().out
    rows = json.loads(out.read_text())
    records = _records(run_dir)
    assert len(rows) == sum(len(r["conversations"]) // 2 for r in records)
    assert len({r["id"] for r in rows}) == len(rows)
    assert any(len(r["conversations"]) > 2 for r in records)  # there was something to split
    for row in rows:
        source = row["conversations"]
        # LLaVA's preprocess_plain: assert len(source) == 2; assert DEFAULT_IMAGE_TOKEN in
        # source[0]['value']
        assert len(source) == 2
        assert source[0]["value"].startswith(f"{IMAGE_TOKEN}\n")
        assert sum(t["value"].count(IMAGE_TOKEN) for t in source) == 1
        assert (tmp_path / "images" / row["image"]).is_file()
    whole = export_llava(str(run_dir), str(tmp_path / "whole.json"))
    assert whole["rows"] == len(records)


def test_the_new_exports_are_on_the_command_line(mixed_runs, tmp_path, capsys):
    assert main(["messages", str(mixed_runs[0]), str(tmp_path / "m.jsonl")]) == 0
    assert main(["llamafactory", str(mixed_runs[0]), str(tmp_path / "lf")]) == 0
    printed = capsys.readouterr().out
    assert "m.jsonl" in printed and "dataset_info.json" in printed
    assert main(["messages", "--help"]) == 0
    assert "TRL" in capsys.readouterr().out
    # Never into a run folder.
    assert main(["llamafactory", str(mixed_runs[0]), str(mixed_runs[0] / "lf")]) == 2
