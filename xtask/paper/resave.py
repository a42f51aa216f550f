"""Re-saves the fetched real models (models/) in the layouts the paper's
checkpoints are published in, for `cargo xtask paper-check --test-hub`:

    python xtask/paper/resave.py MODELS_DIR OUT_DIR

Runs in the interop environment (torch 2.11, transformers 4.44.2, plus
sentencepiece and protobuf). Per model, under OUT_DIR/<model>/:

- `sharded-bin/`: float32 `.bin` shards with `pytorch_model.bin.index.json`;
- `sharded-bf16/`: bfloat16 safetensors shards with `model.safetensors.index.json`;
- for e5-small, `sentencepiece/`: the float32 `.bin` shards with no
  `tokenizer.json`, only a `sentencepiece.bpe.model` rebuilt from its
  tokenizer.json (the unigram pieces and scores in the original's order,
  `<unk> <s> </s>` first, and the precompiled charsmap), as
  XLMRobertaTokenizer reads it.

Written by transformers' `save_pretrained` (200 MB shards); Gemma 3, which
transformers 4.44 does not know, through the same sharding function
(`huggingface_hub.split_torch_state_dict_into_shards`) and `torch.save` /
`safetensors`. A stamp file makes a rerun skip finished models.
"""

import base64
import json
import shutil
import sys
from pathlib import Path

import torch
import transformers
from huggingface_hub import split_torch_state_dict_into_shards
from safetensors.torch import load_file, save_file

MODELS = ["minilm-l6", "e5-small", "smollm2-135m", "qwen2.5-0.5b", "gemma3-270m"]
SHARD = "200MB"
WEIGHTS = {"model.safetensors"}


def copy_other_files(source, target):
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if path.is_file() and relative.name not in WEIGHTS and not relative.name.startswith("."):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)
    for weights in source.glob("*_*/model.safetensors"):
        shutil.copy2(weights, target / weights.parent.name / "model.safetensors")


def model_class(config):
    if config.model_type in ("bert", "xlm-roberta"):
        return transformers.AutoModel
    return transformers.AutoModelForCausalLM


def save_state_dict(state, target, safe):
    """What save_pretrained does with a state dict: shards and their index."""
    pattern = "model{suffix}.safetensors" if safe else "pytorch_model{suffix}.bin"
    split = split_torch_state_dict_into_shards(state, filename_pattern=pattern, max_shard_size=SHARD)
    for filename, names in split.filename_to_tensors.items():
        shard = {name: state[name].contiguous() for name in names}
        if safe:
            save_file(shard, target / filename, metadata={"format": "pt"})
        else:
            torch.save(shard, target / filename)
    if split.is_sharded:
        index = {"metadata": split.metadata, "weight_map": split.tensor_to_filename}
        name = "model.safetensors.index.json" if safe else "pytorch_model.bin.index.json"
        (target / name).write_text(json.dumps(index, indent=2) + "\n")


def resave(source, target, bf16):
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    copy_other_files(source, target)
    try:
        config = transformers.AutoConfig.from_pretrained(source)
        model = model_class(config).from_pretrained(source, torch_dtype=torch.float32)
    except (ValueError, KeyError):
        model = None  # an architecture transformers 4.44 does not know
    if model is not None:
        if bf16:
            model = model.to(torch.bfloat16)
        model.save_pretrained(target, safe_serialization=bf16, max_shard_size=SHARD)
        (target / "generation_config.json").unlink(missing_ok=True)
        shutil.copy2(source / "config.json", target / "config.json")
        return
    state = load_file(source / "model.safetensors")
    if bf16:
        state = {name: tensor.to(torch.bfloat16) for name, tensor in state.items()}
    save_state_dict(state, target, safe=bf16)


def sentencepiece_only(source, target):
    """The e5-small directory with its tokenizer as a SentencePiece model."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    shutil.copytree(source, target, dirs_exist_ok=True)
    spec = json.loads((target / "tokenizer.json").read_text(encoding="utf-8"))
    (target / "tokenizer.json").unlink()
    vocab = spec["model"]["vocab"]
    proto = pb.ModelProto()
    for piece, score, kind in [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]:
        proto.pieces.add(piece=piece, score=score, type=kind)
    for piece, score in vocab[4:-1]:  # fairseq's four, then the pieces, then <mask>
        proto.pieces.add(piece=piece, score=score, type=1)
    proto.trainer_spec.model_type = 1
    proto.trainer_spec.unk_id = 0
    charsmap = [n for n in spec["normalizer"]["normalizers"] if n["type"] == "Precompiled"][0]
    proto.normalizer_spec.precompiled_charsmap = base64.b64decode(charsmap["precompiled_charsmap"])
    (target / "sentencepiece.bpe.model").write_bytes(proto.SerializeToString())
    config = json.loads((target / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "XLMRobertaTokenizer"
    (target / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


def main():
    models, out = Path(sys.argv[1]), Path(sys.argv[2])
    for name in MODELS:
        source = models / name
        stamp = out / name / ".done"
        if stamp.exists() or not source.is_dir():
            continue
        resave(source, out / name / "sharded-bin", bf16=False)
        resave(source, out / name / "sharded-bf16", bf16=True)
        if name == "e5-small":
            sentencepiece_only(out / name / "sharded-bin", out / name / "sentencepiece")
        stamp.write_text("done\n")
        print(f"{name}: re-saved", flush=True)


if __name__ == "__main__":
    main()
