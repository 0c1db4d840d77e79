"""The shard json member's stable typed schema (mmsynth.schema, issue 20 item 1), on real output
of every source: geometry and charts (with region questions, preference pairs and a difficulty
mix, the options that add fields), coco photos with region and annotation questions (a COCO-format
fixture, a fixed-reply backend) and coco with the embedded LLM's own conversations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from conftest import REPO, read_shards

from mmsynth import schema
from mmsynth.run import run
from mmsynth.sample import check_llava_shape
from mmsynth.shards import ShardProblem, parse_record

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="module")
def runs(geometry_run, coco_run, tmp_path_factory, monkeypatch_module):
    from tests.coco.fixed_backend import FixedReply
    from tests.coco.test_region_qa import SHORT, _fixture

    base = tmp_path_factory.mktemp("schema")
    common = {"progress": False, "clip_mode": "off"}
    run({"source": "geometry", "num_samples": 40, "region_rate": 1.0, "preference_pairs": 1,
         "difficulty": "{1: 1, 2: 1, 3: 1}", "out": str(base / "geometry"), **common})
    run({"source": "chart", "num_samples": 40, "region_rate": 1.0, "preference_pairs": 1,
         "out": str(base / "chart"), **common})
    monkeypatch_module.setattr("mmsynth.llm.backend_from_config",
                               lambda config: FixedReply(SHORT))
    root = _fixture(base / "coco_root")
    run({"source": "coco", "coco_root": str(root), "num_samples": 3, "seed": 1,
         "types": "detail", "region_rate": 1.0, "box_format": "qwen",
         "out": str(base / "coco_regions"), **common})
    return {"geometry": geometry_run, "geometry_options": base / "geometry",
            "chart": base / "chart", "coco_regions": base / "coco_regions",
            "coco_llm": coco_run[0]}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def raw_records(runs) -> dict[str, list[dict]]:
    return {name: [json.loads(m["json"]) for m in read_shards(out).values()]
            for name, out in runs.items()}


def test_every_record_alone_gives_the_one_arrow_schema(runs):
    """What datasets infers from any five samples fits every other sample of every source."""
    from datasets import Features

    declared = Features({"json": schema.json_features()}).arrow_schema.field("json").type
    for name, records in raw_records(runs).items():
        assert records, name
        for record in records:
            inferred = pa.Table.from_pylist([record]).schema
            assert pa.struct(list(inferred)) == declared, (name, record["id"])


def test_every_record_follows_sample_schema_json(runs):
    import jsonschema

    document = schema.json_schema()
    validator = jsonschema.Draft202012Validator(document)
    for name, records in raw_records(runs).items():
        for record in records:
            errors = [e.message for e in validator.iter_errors(record)]
            assert not errors, (name, record["id"], errors[:3])
            assert list(record) == list(schema.TYPES)  # the same order, too
            assert list(record["meta"]) == list(schema.TYPES["meta"])
            assert all(list(i) == list(schema.TYPES["qa"][0]) for i in record["qa"])
            for item in record["qa"]:
                json.loads(item["value"]), json.loads(item["details"])

    # The file and the code describe one record: the same keys at every level.
    def keys(node):
        return list(node["properties"])
    assert keys(document) == list(schema.TYPES)
    assert keys(document["properties"]["qa"]["items"]) == list(schema.TYPES["qa"][0])
    assert keys(document["properties"]["meta"]) == list(schema.TYPES["meta"])


def test_decoding_gives_the_in_memory_record_back_exactly(runs):
    kinds = set()
    for name, records in raw_records(runs).items():
        for record in records:
            back = schema.decode(record)
            assert schema.encode(back) == record, (name, record["id"])
            assert schema.dumps(schema.encode(back)) == schema.dumps(record)
            assert check_llava_shape(back) == []
            origins = {item["origin"] for item in record["qa"]}
            kinds |= origins
            if origins == {"llm"}:  # an LLM-written sample lists its turns; decoding drops them
                assert "qa" not in back
                turns = record["conversations"]
                assert [i["answer"] for i in record["qa"]] == [t["value"] for t in turns[1::2]]
                assert all(i["exact"] is False and i["value"] == "null" for i in record["qa"])
            else:
                assert len(back["qa"]) == len(record["qa"])
            # typed values come back with their types (the render's int, float, list answers)
            for item, mine in zip(record["qa"], back.get("qa", []), strict=False):
                assert json.loads(item["value"]) == mine.get("value")
    assert kinds == {"scene", "annotations", "llm"}
    licences = {json.dumps(r["meta"]["license"]) for rs in raw_records(runs).values() for r in rs}
    assert all(set(json.loads(lic)) == {"name", "url"} for lic in licences)


def test_renders_and_photos_keep_their_typed_fields(runs):
    records = raw_records(runs)
    geometry = records["geometry"][0]
    assert geometry["meta"]["generator"] and geometry["meta"]["license"]["name"] == "CC0-1.0"
    assert json.loads(geometry["scene"]) and json.loads(geometry["annotations"]) is None
    photo = next(r for r in records["coco_regions"] if r["meta"]["box_format"] == "qwen")
    assert json.loads(photo["scene"]) is None and json.loads(photo["annotations"])["objects"]
    assert photo["meta"]["license"] == {"name": "CC BY 2.0",
                                        "url": "https://creativecommons.org/licenses/by/2.0/"}
    paired = [r for r in records["chart"] if json.loads(r["preference"])]
    assert paired and all(json.loads(r["preference"]) == [] for r in records["chart"]
                          if r not in paired)


def test_a_bare_load_dataset_reads_each_source_and_a_mixed_load_exactly(runs):
    """tests/hf_load_check.py with this environment's datasets; with another interpreter too
    when MMSYNTH_SIDE_DATASETS_PYTHON names one (the note: datasets 4.0.x in a side venv)."""
    script = REPO / "tests" / "hf_load_check.py"
    dirs = [str(runs[k]) for k in ("geometry_options", "chart", "coco_regions", "coco_llm")]
    pythons = [sys.executable] + [p for p in [os.environ.get("MMSYNTH_SIDE_DATASETS_PYTHON")]
                                  if p]
    for python in pythons:
        proc = subprocess.run([python, str(script), "--images", *dirs], capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        lines = [line for line in proc.stdout.splitlines() if "json exact" in line]
        assert len(lines) == 5, proc.stdout  # each run alone, then all four together


def test_png_and_jpg_runs_load_together_with_hf_features(runs, tmp_path):
    from datasets import load_dataset

    tars = sorted(str(p) for k in ("geometry", "coco_regions")
                  for p in Path(runs[k]).glob("shard-*.tar"))
    ds = load_dataset("webdataset", data_files={"train": tars}, split="train",
                      features=schema.hf_features(), cache_dir=str(tmp_path / "cache"))
    kinds = [("png" if row["png"] is not None else "") + ("jpg" if row["jpg"] is not None else "")
             for row in ds]
    assert kinds.count("png") == 50 and kinds.count("jpg") == len(ds) - 50 > 0


def test_the_run_card_declares_the_typed_features(runs):
    from datasets import Features

    card = (Path(runs["chart"]) / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    features = Features._from_yaml_list(front["dataset_info"]["features"])
    assert features == schema.hf_features(images=("png",))


def test_records_written_before_version_2_read_as_they_are_and_bad_ones_are_counted():
    old = {"id": "g-0", "image": "g-0.png",
           "qa": [{"question": "q", "answer": "1", "value": 1, "exact": True}],
           "conversations": [{"from": "human", "value": "<image>\nq"},
                             {"from": "gpt", "value": "1"}], "meta": {"source": "geometry"}}
    assert schema.decode(old) is old
    record, _, _ = parse_record({"json": json.dumps(old).encode(), "png": b"x"}, "g-0")
    assert record == old
    broken = schema.encode(old)
    broken["qa"][0]["details"] = "not json"
    with pytest.raises(ShardProblem, match="sample schema"):
        parse_record({"json": json.dumps(broken).encode(), "png": b"x"}, "g-0")
    with pytest.raises(ValueError, match="no question and answer"):
        schema.encode({**old, "conversations": []})


def test_jsonl_exports_of_several_sources_load_as_one_dataset(runs, tmp_path):
    """LLaMA-Factory lists several files in one entry; datasets' json builder must merge them."""
    from datasets import load_dataset

    from mmsynth.export import export_jsonl

    files = []
    for name in ("geometry_options", "chart", "coco_regions", "coco_llm"):
        files.append(str(tmp_path / f"{name}.jsonl"))
        export_jsonl(str(runs[name]), files[-1], str(tmp_path / f"images_{name}"))
    ds = load_dataset("json", data_files={"train": files}, split="train",
                      cache_dir=str(tmp_path / "cache"))
    lines = [json.loads(line) for f in files for line in Path(f).read_text().splitlines()]
    assert len(ds) == len(lines) and {m["source"] for m in ds["meta"]} == {"geometry", "chart",
                                                                          "coco"}
    assert [row["meta"] for row in ds] == [line["meta"] for line in lines]
