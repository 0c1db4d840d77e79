"""The smallest ``--llm_no_repeat_ngram_size`` each shipped few-shot reply allows: for every
example reply of the prompt sets (the format the model is asked to write), the longest token
n-gram that occurs twice in it, tokenised by the embedded model. Run from a checkout:
``python tools/repeated_ngrams.py``."""

import importlib.metadata as md
from pathlib import Path

import yaml
from transformers import AutoTokenizer

from mmsynth.llm.base import EMBEDDED_MODELS
from mmsynth.resources import config_path

dist, rel = EMBEDDED_MODELS["smollm2-135m-instruct"]
f = Path(md.distribution(dist).locate_file(rel))
tok = AutoTokenizer.from_pretrained(f.parent, gguf_file=f.name)
for name in ("conversation", "detail", "reasoning"):
    ps = yaml.safe_load(config_path("prompts", f"{name}.yaml").read_text())
    for i, ex in enumerate(ps["few_shot"]):
        ids = tok(ex["response"], add_special_tokens=False)["input_ids"]
        longest, gram = 0, None
        for n in range(1, len(ids)):
            seen, rep = set(), None
            for k in range(len(ids) - n + 1):
                g = tuple(ids[k:k + n])
                if g in seen:
                    rep = g
                    break
                seen.add(g)
            if rep is None:
                break
            longest, gram = n, rep
        shown = tok.decode(list(gram)) if gram else ""
        print(f"{name} example {i}: {len(ids)} tokens, longest repeated {longest}-gram "
              f"{shown!r}: no_repeat_ngram_size >= {longest + 1} allows it")
