"""The tiny model: a random-weight Qwen2.5-VL built offline, for tests and the demo (registered as `tiny`).

There is no model hub here, so the tests need a model that is made, not downloaded. It has the real
Qwen2.5-VL architecture, special tokens and chat template, and is saved with `save_pretrained`, so it goes
through exactly the `from_pretrained` path a real checkpoint does (no `trust_remote_code`). Its tokenizer is
a small byte-level BPE trained at build time on geography-flavoured text (vocabulary under 1k), which keeps
the model at about 0.2 M parameters and a build well under a second.

torch and transformers are imported inside functions: `geobench --help` must stay fast.
"""

from __future__ import annotations

import json
import os
import struct

NAME = "tiny-qwen25vl-v1"  # bump the suffix whenever the recipe changes what gets built

# Qwen2.5's special tokens in their real order (ids 151643.. in the real model, 0.. here).
SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
    "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
]

# Qwen2.5-VL's chat template, byte for byte (TRL recognises it, e.g. for assistant_only_loss).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

# Qwen2's pre-tokenizer regex (digits are split one by one, as in the real tokenizer).
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")

COUNTRIES = ["France", "Germany", "Japan", "Brazil", "Kenya", "India", "Canada", "Australia", "Egypt",
             "Norway", "Chile", "Mexico", "Spain", "Italy", "China", "Russia", "Peru", "Argentina", "Nigeria",
             "Indonesia", "Thailand", "Turkey", "Iceland", "Morocco", "South Africa", "United States",
             "United Kingdom", "New Zealand"]
CONTINENTS = ["Europe", "Asia", "Africa", "North America", "South America", "Oceania", "Antarctica"]
PHRASES = [
    "You are a helpful assistant.", "Where was this photo taken?", "Which country is shown in the image?",
    "Guess the location of this street view.", "Give the latitude and longitude of the place.",
    "Answer with the letter of the correct option: A, B, C or D.", "Which satellite tile matches the photo?",
    "First think step by step inside <think> </think>, then answer inside <answer> </answer>.",
    "<think>The road signs and the left-hand traffic suggest a country in the south.</think>",
    "<think>Snow, pine forest and mountains: a cold climate at a high latitude.</think>",
    "<answer>A</answer>", "<answer>B</answer>", "<answer>C</answer>", "<answer>D</answer>",
    "latitude longitude country city region continent coast desert forest river mountain road sign",
    "north south east west N S E W degrees km distance near far city town village",
    "The answer is", "I think this is", "This picture shows", "The photo was taken in",
    "The quick brown fox jumps over the lazy dog.", "system", "user", "assistant",
]
COORDS = [(48.85, 2.35), (-33.87, 151.21), (35.68, 139.69), (40.71, -74.01), (-22.91, -43.17),
          (55.75, 37.62), (-1.29, 36.82), (28.61, 77.21), (64.15, -21.94), (-41.29, 174.78)]


def corpus() -> list[str]:
    """The BPE training text: fixed (no randomness), so the vocabulary is the same on every build."""
    lines = list(PHRASES)
    for c in COUNTRIES:
        lines += [f"The answer is {c}.", f"<answer>{c}</answer>", f"This is {c}."]
    lines += [f"The continent is {c}." for c in CONTINENTS]
    for lat, lon in COORDS:
        lines += [f"({lat}, {lon})", f"<answer>({lat}, {lon})</answer>", f"latitude {lat}, longitude {lon}",
                  f"{abs(lat)}°{'N' if lat >= 0 else 'S'} {abs(lon)}°{'E' if lon >= 0 else 'W'}"]
    lines.append(" ".join(str(i) for i in range(101)))
    lines.append("0 1 2 3 4 5 6 7 8 9 . , - + ( ) [ ] : ; ° % ?")
    return lines * 10


def _tokenizer():
    """A `Qwen2Tokenizer` (Qwen2's normaliser, pre-tokenizer, decoder) over a BPE trained here.

    The special tokens get ids 0..21 in Qwen2.5's order; `tokenizer_class` is saved as "Qwen2Tokenizer", as
    in a real checkpoint.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(corpus(), trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    tokenizer = Qwen2Tokenizer(vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]],
                               eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None,
                               model_max_length=32768)
    # add_tokens, not add_special_tokens: the latter saves a list `extra_special_tokens` that transformers 4.x
    # cannot read; special=True is what makes decode(skip_special_tokens=True) drop them.
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _build_into(folder: str, seed: int, width: int = 64) -> None:
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    from transformers.utils import logging as hf_logging

    from geobench.qwen_processor import Qwen2_5_VLImageOnlyProcessor

    tokenizer = _tokenizer()
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in SPECIAL_TOKENS}
    # A small pixel budget: a 96x80 image becomes 36 patches and 9 <|image_pad|> tokens.
    image_processor = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112})
    processor = Qwen2_5_VLImageOnlyProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                             chat_template=CHAT_TEMPLATE)
    # width 64 (default, ~0.2 M parameters) for tests; `geobench demo` uses 128 (~0.75 M), which learns the toy
    # pairing task in minutes. mrope sections: 1/4, 3/8, 3/8 of head_dim / 2, as in Qwen2.5-VL.
    half = width // 4 // 2
    config = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 1e6,
                                          "mrope_section": [half // 4, 3 * half // 8, half - half // 4 - 3 * half // 8]},
                         bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                         pad_token_id=ids["<|endoftext|>"]),
        vision_config=dict(depth=2, hidden_size=width // 2, intermediate_size=width, num_heads=2, out_hidden_size=width,
                           patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
                           fullatt_block_indexes=[1]),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False)
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config)
    # As in Qwen2.5-VL-Instruct: both <|im_end|> and <|endoftext|> end a generation.
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # a 1 MB file needs no "Writing model shards" bar
    try:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def build_tiny_model(path: str, seed: int = 0, width: int = 64) -> str:
    """Build the tiny model into `path` (absent or empty) and return its absolute path.

    It is built in a temporary sibling folder and moved into place with `os.replace`, so a killed build
    never leaves a half-written model where a loader would find it. The same seed gives the same files.
    """
    from geobench.results import atomic_dir

    path = os.path.abspath(os.path.expanduser(path))
    with atomic_dir(path) as tmp:
        _build_into(str(tmp), seed, width)
    return path


def param_count(path: str) -> int:
    """Number of parameters in a folder's safetensors files, read from their headers (no torch)."""
    total = 0
    for name in sorted(os.listdir(path)):
        if not name.endswith(".safetensors"):
            continue
        with open(os.path.join(path, name), "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        for key, info in header.items():
            if key != "__metadata__":
                count = 1
                for d in info["shape"]:
                    count *= d
                total += count
    return total


def geobench_home() -> str:
    return os.path.abspath(os.path.expanduser(os.environ.get("GEOBENCH_HOME") or "~/.cache/geobench"))


def tiny_model_path() -> str:
    """The default tiny model folder, `$GEOBENCH_HOME/models/tiny-qwen25vl-v1`, built on first use.

    A file lock keeps two processes (e.g. parallel test workers) from building it at the same time.
    """
    from filelock import FileLock

    path = os.path.join(geobench_home(), "models", NAME)
    if os.path.isfile(os.path.join(path, "config.json")):
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with FileLock(path + ".lock"):
        if not os.path.isfile(os.path.join(path, "config.json")):
            build_tiny_model(path)
    return path
