"""How many tokens an lm-eval LM generated: observed through `tok_decode` for its Hugging Face models (the
same count as the `hf` backend), else the completion re-encoded with the LM's tokenizer."""

from __future__ import annotations


class TokenRecorder:
    """Observes the generated token ids of lm-eval's Hugging Face models (HFLM and subclasses).

    Their `generate_until` decodes each continuation with `self.tok_decode(cont_toks)` and then cuts it at the
    stop strings; wrapping `tok_decode` on the instance during the call records (text, ids) pairs, which
    are matched back to the returned texts by content (same text -> same count; the order does not matter).
    Other model types never call it with a list of ids, and their counts fall back to re-encoding.
    """

    def __init__(self, lm):
        self.lm = lm
        self.records: list[tuple[str, list[int]]] = []
        self.end_ids = _end_ids(lm)

    def __enter__(self) -> TokenRecorder:
        original = getattr(self.lm, "tok_decode", None)
        if original is None or self.end_ids is None:
            return self

        def recording(tokens, *args, **kwargs):
            text = original(tokens, *args, **kwargs)
            skip = kwargs.get("skip_special_tokens", args[0] if args else True)
            if isinstance(tokens, list) and skip:
                self.records.append((text, tokens))
            return text

        self.decode = original
        self.lm.tok_decode = recording
        return self

    def __exit__(self, *exc) -> None:
        self.lm.__dict__.pop("tok_decode", None)

    def take(self, text: str, stop: tuple[str, ...]) -> tuple[bool, int | None]:
        """(cut by a stop string, generated tokens up to the first end token) for a returned text."""
        for k, (decoded, ids) in enumerate(self.records):
            if decoded == text or (decoded.startswith(text) and _cut(decoded, stop) == text):
                del self.records[k]
                n = next((p for p, t in enumerate(ids) if t in self.end_ids), len(ids))
                if decoded == text:
                    return False, n
                return True, self._tokens_to_stop(ids[:n], stop)
        return False, None

    def _tokens_to_stop(self, ids: list[int], stop: tuple[str, ...]) -> int:
        """The fewest leading ids whose text contains a stop string: where the `hf` backend (which stops each
        row at its stop string) would have stopped; lm-eval generates on until every row of the batch stops."""
        lo, hi = 1, len(ids)
        while lo < hi:  # "contains a stop string" only turns on as the prefix grows: binary search
            mid = (lo + hi) // 2
            text = self.decode(ids[:mid])
            if any(term and term in text for term in stop):
                hi = mid
            else:
                lo = mid + 1
        return hi


def _cut(text: str, stop: tuple[str, ...]) -> str:
    for term in stop:
        if term:
            text = text.split(term)[0]
    return text


def _end_ids(lm) -> set[int] | None:
    """The ids that end a generation (generation config eos + pad), for HF-model LMs; else None."""
    model = getattr(lm, "_model", None) or getattr(lm, "model", None)
    tok = getattr(lm, "tokenizer", None)
    gc = getattr(model, "generation_config", None)
    if gc is None or tok is None:
        return None
    eos = gc.eos_token_id if gc.eos_token_id is not None else getattr(tok, "eos_token_id", None)
    ids = set(eos if isinstance(eos, list) else [eos])
    ids |= {gc.pad_token_id, getattr(tok, "pad_token_id", None)}
    ids.discard(None)
    return ids


def count_tokens(lm, text: str) -> int:
    tok = getattr(lm, "tokenizer", None)
    encode = getattr(tok, "encode", None)
    if encode is None or not text:
        return 0
    try:
        return len(encode(text, add_special_tokens=False))
    except TypeError:
        return len(encode(text))
    except Exception:  # noqa: BLE001 - a count is informative only
        return 0
