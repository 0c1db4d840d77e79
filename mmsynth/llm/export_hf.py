"""Write a model that ``--llm_model`` accepts (the embedded GGUF, a .gguf file, a directory) as a
plain transformers checkpoint, so an OpenAI-compatible server can serve it:

    python -m mmsynth.llm.export_hf models/smollm2            # the embedded model
    transformers serve --device cpu --port 8000 models/smollm2  # model name: models/smollm2
    python -m mmsynth.generate --source coco --llm_backend openai \\
        --llm_base_url http://127.0.0.1:8000/v1 --llm_model models/smollm2

``transformers serve`` cannot load the embedded GGUF directly (its config names no
architecture), and a GGUF-loaded model refuses ``save_pretrained`` (its quantizer is not
serialisable): the weights are copied into a freshly built model of the same class instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mmsynth.llm.base import DEFAULT_MODEL


def export_hf(out_dir: str | Path, model: str = DEFAULT_MODEL) -> Path:
    """Save ``model`` (dequantised, float32) with its tokenizer and chat template to
    ``out_dir``; return it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mmsynth.llm.transformers_backend import resolve_model

    source = resolve_model(model)
    kwargs = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(source.location, **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(source.location, **kwargs)
    loaded.config.architectures = [type(loaded).__name__]
    plain = AutoModelForCausalLM.from_config(loaded.config)
    plain.load_state_dict(loaded.state_dict())
    out = Path(out_dir)
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2) or args[0] in ("-h", "--help"):
        print(__doc__)
        print("usage: python -m mmsynth.llm.export_hf OUT_DIR [MODEL]")
        return 0 if args and args[0] in ("-h", "--help") else 2
    out = export_hf(args[0], *args[1:])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
