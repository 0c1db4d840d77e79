"""The dataset card: ``README.md`` in a run's output directory, rewritten at the end of each run.

It says what the directory holds and how it was made — the config and fingerprint, counts by
generator or data type, rejections by reason, the licences of the images, the models that wrote
or scored the samples — and how to load it (mmsynth's loader, plain webdataset, Hugging Face
``datasets``, the exports). Its YAML front matter is a Hugging Face dataset card header, so the
directory can be pushed to the Hub as it is. Built from ``run.json`` and the shards' stats only.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mmsynth import schema
from mmsynth.redact import redact
from mmsynth.shards import CARD_FILE, CARD_MARK, atomic_write_bytes, is_our_card

# Licence names as the Hub spells them, where it knows them.
_HUB_LICENSES = {"CC0-1.0": "cc0-1.0", "CC-BY-4.0": "cc-by-4.0", "CC BY 4.0": "cc-by-4.0",
                 "Apache-2.0": "apache-2.0", "MIT": "mit", "Public Domain": "other"}

_SOURCE_TEXT = {
    "geometry": "geometry figures rendered with matplotlib from random parameters; every answer "
                "is computed from the figure's parameters (the scene), never from the picture",
    "chart": "charts rendered with matplotlib from random data tables; every answer is computed "
             "from the table",
    "coco": "real photographs in COCO format; a text LLM wrote the conversations, descriptions "
            "and reasoning from each image's captions and boxes, and a grounding check rejected "
            "answers that name absent objects or contradict the box counts",
}


def write_card(out: Path, record: Mapping[str, Any], totals: Mapping[str, Any],
               shard_stats: Iterable[Mapping[str, Any]], stage_lines: list[str]) -> bool:
    """Write ``out/README.md`` (atomically); False, writing nothing, when a README.md that this
    tool did not write is there already (it is the user's)."""
    path = out / CARD_FILE
    if path.exists() and not is_our_card(path):
        return False
    # Redacted as a whole: the card is made to be published, and quotes the command and config.
    text = redact(card_text(record, totals, list(shard_stats), stage_lines))
    # A dedup pass's counts stay on the card when the run's end rewrites it (mmsynth.dedup).
    from mmsynth.dedup.record import card_section, with_card_section

    text = with_card_section(text, card_section(out))
    atomic_write_bytes(path, text.encode())
    return True


def card_text(record: Mapping[str, Any], totals: Mapping[str, Any],
              shard_stats: list[Mapping[str, Any]], stage_lines: list[str]) -> str:
    """The card's Markdown (see the module docstring)."""
    config = dict(record.get("config", {}))
    source = config.get("source", "?")
    licenses, kinds, models = Counter(), Counter(), Counter()
    for s in shard_stats:
        prov = s.get("provenance", {})
        licenses.update(prov.get("licenses", {}))
        kinds.update(prov.get("kinds", {}))
        models.update(prov.get("models", {}))
    image_ext = "jpg" if source == "coco" else "png"
    kept, rejected = totals.get("kept", 0), totals.get("rejected", 0)
    hub_license = _hub_license(licenses)

    lines = [
        "---",
        CARD_MARK,
        f"license: {hub_license}",
        f"pretty_name: mmsynth {source} (seed {config.get('seed', 0)})",
        "task_categories:",
        "- visual-question-answering",
        "- image-text-to-text",
        "tags: [mmsynth, synthetic, llava, webdataset]",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        "    path: shard-*.tar",
        # Declared (the stable typed record of mmsynth.schema), so loading the folder needs no
        # inference; plain types that every datasets version reads (4.0 has no json dtype).
        "dataset_info:",
        "  features:",
        f"  - name: {image_ext}",
        "    dtype: image",
        *schema.yaml_lines("json", indent="  "),
        "  - name: txt",
        "    dtype: string",
        "  - name: __key__",
        "    dtype: string",
        "  - name: __url__",
        "    dtype: string",
        "---",
        "",
        f"# mmsynth {source} data",
        "",
        f"LLaVA-style instruction data made by mmsynth "
        f"{record.get('versions', {}).get('mmsynth', '')}: "
        f"{_SOURCE_TEXT.get(source, f'samples from the {source} source')}. Each sample is "
        f"`{{id}}.{image_ext}` + `{{id}}.json` + `{{id}}.txt` (the caption) in WebDataset tar "
        "shards; the JSON holds `id`, `image`, `conversations` (LLaVA's `human`/`gpt` turns), "
        "`caption`, `qa` (every question with its answer, typed value, origin and worked "
        "solution), `scene` or `annotations`, `preference`, and `meta` (provenance: source, "
        "generator, seed, index, config fingerprint, licence), with the same keys and types in "
        f"every sample (schema version {schema.SCHEMA_VERSION}, `mmsynth/sample.schema.json`).",
        "",
        "## Counts",
        "",
        "| | |",
        "|---|---|",
        f"| kept samples | {kept} |",
        f"| rejected | {rejected} |",
        f"| {'images' if source == 'coco' else 'sample indices'} | "
        f"{totals.get('num_items', '?')} |",
        f"| shards | {totals.get('shards', len(shard_stats))} |",
        "",
    ]
    if kinds:
        lines += ["Kept samples by generator or data type:", "", "| kind | samples |", "|---|---|"]
        lines += [f"| {k} | {n} |" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])]
        lines.append("")
    lines += ["## Rejections", ""]
    reasons = totals.get("rejections", {})
    if reasons:
        lines += ["Every dropped sample is counted with its reason (examples in each "
                  "`shard-*.stats.json`, a few rejected samples with their images in "
                  "`shard-*.rejects.json`; `python -m mmsynth.preview` shows them).", "",
                  "| reason | count |", "|---|---|"]
        lines += [f"| `{r}` | {n} |" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])]
    else:
        lines.append("No sample was rejected.")
    if stage_lines:
        lines += ["", *[f"- {line.strip()}" for line in stage_lines]]
    lines += _input_lines(totals.get("input") or {})
    lines += _box_lines(config)
    lines += ["", "## Licences", ""]
    lines += _licence_lines(source, licenses)
    lines += ["", "## Models", ""]
    lines += _model_lines(config, models)
    lines += [
        "",
        "## Configuration",
        "",
        f"Fingerprint `{record.get('fingerprint', '?')}` (every sample's "
        "`meta.config_fingerprint`); the same config and seed give byte-identical shards.",
        "",
        "```json",
        json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True, default=str),
        "```",
        "",
        f"Command: `{record.get('command', '')}`",
        "",
        "## Loading",
        "",
        "With mmsynth's streaming loader (shuffled, split across nodes and workers):",
        "",
        "```python",
        "from mmsynth.loader import make_loader",
        "loader = make_loader(\"THIS_DIR\", batch_size=32, num_workers=4)",
        "```",
        "",
        "With Hugging Face `datasets` (any version from 4.0: every sample's `json` has the same "
        "keys and types, `mmsynth/sample.schema.json`; its `value`, `details`, `scene`, "
        "`annotations` and `preference` fields are JSON text to `json.loads`):",
        "",
        "```python",
        "import json",
        "from datasets import load_dataset",
        "ds = load_dataset(\"webdataset\", data_files={\"train\": \"THIS_DIR/shard-*.tar\"}, "
        "split=\"train\")",
        f"ds[0][\"{image_ext}\"], ds[0][\"json\"][\"conversations\"], "
        "json.loads(ds[0][\"json\"][\"qa\"][0][\"value\"])",
        "```",
        "",
        "Loading png and jpg runs together (renders and photos), pass "
        "`features=mmsynth.schema.hf_features()`: without it `datasets` keeps only the image kind "
        "of the first five samples it reads.",
        "",
        "As files for other trainers:",
        "",
        "```bash",
        "# from the folder that holds THIS_DIR: exports never write into a run folder",
        "mmsynth export llava THIS_DIR exports/llava.json --images exports/images  # LLaVA's",
        "mmsynth export jsonl THIS_DIR exports/data.jsonl --images exports/images  # a line each",
        "mmsynth export messages THIS_DIR exports/sft.jsonl --images exports/images  # TRL",
        "mmsynth export llamafactory THIS_DIR exports/lf                     # LLaMA-Factory",
        "mmsynth export hf THIS_DIR exports/hf                                     # save_to_disk",
        "mmsynth preview THIS_DIR --out preview.html           # look at it first",
        "mmsynth verify THIS_DIR                               # sha256 + members vs stats",
        "```",
        "",
        "## Publishing",
        "",
        "The lock, the LLM reply cache and the reject samples are working files, not data:",
        "",
        "```python",
        "from huggingface_hub import HfApi",
        "HfApi().upload_folder(repo_id=\"you/your-dataset\", repo_type=\"dataset\", "
        "folder_path=\"THIS_DIR\",",
        "                      ignore_patterns=[\".mmsynth.lock\", \"llm_cache/*\", "
        "\"*.rejects.json\", \"*.tmp-*\"])",
        "```",
        "",
    ]
    return "\n".join(lines)


def _input_lines(report: Mapping[str, Any]) -> list[str]:
    """The reader's report on its input: records it dropped or repaired, by reason."""
    reader = report.get("reader") or "the reader"
    what = {"dropped": "left out (the records never became samples)",
            "repaired": "repaired and kept"}
    lines: list[str] = []
    for group, text in what.items():
        counts = report.get(group) or {}
        if not counts:
            continue
        total = sum(counts.values())
        lines += ["", f"Input records {text} by the {reader}: {total}.", "",
                  "| reason | records |", "|---|---|"]
        lines += [f"| `{r}` | {n} |" for r, n in sorted(counts.items(),
                                                        key=lambda kv: (-kv[1], kv[0]))]
    return ["", "## Input", *lines] if lines else []


def _box_lines(config: Mapping[str, Any]) -> list[str]:
    """How the region questions write boxes and points (only when the run asks them)."""
    if not config.get("region_rate"):
        return []
    from mmsynth.boxes import box_format

    fmt = box_format(config.get("box_format", "llava"))
    return ["", "## Boxes and points", "",
            f"Region questions (`qa[].type` `region_*`, {100 * config['region_rate']:g}% of the "
            f"images) write boxes in the `{fmt.name}` convention: {fmt.describe()}. Each such "
            "item also keeps its geometry in pixels of the original image under `qa[].regions` "
            "(`box` [x1, y1, x2, y2], `point` [x, y]), and the sample's `meta.box_format` names "
            "the convention."]


def _hub_license(licenses: Mapping[str, int]) -> str:
    names = {n for n in licenses if n != "unknown"}
    if len(names) == 1:
        return _HUB_LICENSES.get(next(iter(names)), "other")
    return "other"


def _licence_lines(source: str, licenses: Mapping[str, int]) -> list[str]:
    lines = []
    if source in ("geometry", "chart"):
        lines.append("The images are generated by mmsynth from random parameters (no third-party "
                     "material) and released as CC0-1.0; mmsynth's code is Apache-2.0.")
    elif source == "coco":
        lines.append("The photographs keep their own licences: each sample's `meta.license` and "
                     "`meta.attribution` name them. The generated text follows the LLM's terms "
                     "(see Models).")
    if licenses:
        lines += ["", "| licence | samples |", "|---|---|"]
        lines += [f"| {name} | {n} |" for name, n in sorted(licenses.items(),
                                                              key=lambda kv: -kv[1])]
    return lines


def _model_lines(config: Mapping[str, Any], models: Mapping[str, int]) -> list[str]:
    lines = []
    if models:
        lines += ["| model | samples |", "|---|---|"]
        lines += [f"| {name} | {n} |" for name, n in sorted(models.items())]
    elif config.get("llm_model"):
        lines.append(f"LLM: `{config.get('llm_backend', 'transformers')}` backend, model "
                     f"`{config['llm_model']}` (no kept sample used it).")
    else:
        lines.append("No model: answers are computed, not generated.")
    if config.get("llm_model"):
        lines += ["", f"LLM from the config: backend `{config.get('llm_backend', 'transformers')}`,"
                      f" model `{config['llm_model']}`. Each sample's `meta.llm` has the exact "
                      "model and generation parameters."]
    if not any(name.startswith("clip") for name in models):
        lines += ["", "No CLIP scores in this run."]
    return lines
