"""An image-only Qwen2-VL / Qwen2.5-VL processor, for machines without torchvision.

transformers' stock `Qwen2_5_VLProcessor` requires a video processor, and `Qwen2VLVideoProcessor` imports
torchvision at module level; where torchvision cannot be imported (the CPU torch 2.13 install) the stock
processor cannot even be built. This subclass drops the video processor and keeps everything else (chat
template, image tokens, `mm_token_type_ids`), so images and text work the same way.

It saves itself as a real checkpoint's processor (stock class name, legacy layout), so a folder saved here
loads with plain `AutoProcessor` on a machine that has torchvision, and with
`geobench.hfutil.load_processor` on one that does not. Importing this module imports transformers:
import it lazily.
"""

from __future__ import annotations

import os

from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
from transformers.processing_utils import ProcessorMixin

STOCK_CLASS = "Qwen2_5_VLProcessor"


class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):
    """`Qwen2_5_VLProcessor` without the video processor (so without torchvision)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    def save_pretrained(self, save_directory, **kwargs) -> list[str]:
        """Save in the layout of a real Qwen2.5-VL checkpoint, naming the stock processor class.

        That is `preprocessor_config.json` (the image processor; a video processor is inferred from it where
        torchvision exists), the tokenizer files and `chat_template.jinja`: what every transformers version
        and tool that loads a real checkpoint expects, and no `processor_config.json` naming this class.
        """
        os.makedirs(save_directory, exist_ok=True)
        self.tokenizer._set_processor_class(STOCK_CLASS)  # AutoProcessor finds the class here
        files = list(self.image_processor.save_pretrained(save_directory, **kwargs))
        files += list(self.tokenizer.save_pretrained(save_directory, **kwargs))
        if isinstance(self.chat_template, str):
            path = os.path.join(save_directory, "chat_template.jinja")
            with open(path, "w", encoding="utf-8") as f:
                f.write(self.chat_template)
            files.append(path)
        return files
