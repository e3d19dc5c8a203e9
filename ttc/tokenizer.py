"""A character-level tokenizer that is a real ``transformers`` tokenizer.

Built with ``tokenizers`` (one token per character, BOS added by the post-processor, characters fused
back on decode) and wrapped in ``PreTrainedTokenizerFast``, so it saves with ``save_pretrained`` and
loads with ``AutoTokenizer.from_pretrained`` exactly like a Hugging Face checkpoint's tokenizer.

``Codec`` is the fast path ttc uses internally: vectorised encode/decode for any tokenizer, with a
table lookup when every token is one character.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
DEFAULT_CHARS = string.digits + string.ascii_lowercase + "=+-*,;:?#|()[]. \n"


def build_char_tokenizer(chars: str = DEFAULT_CHARS) -> PreTrainedTokenizerFast:
    if len(set(chars)) != len(chars):
        raise ValueError("build_char_tokenizer: chars contains duplicates; pass each character once")
    vocab = {tok: i for i, tok in enumerate([PAD, BOS, EOS, UNK, *chars])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, clean_up_tokenization_spaces=False)


@dataclass(frozen=True)
class Codec:
    """Fast encode/decode around a tokenizer; table-driven when every vocabulary entry is a character."""

    tokenizer: PreTrainedTokenizerFast
    eos_id: int
    pad_id: int
    _lut: np.ndarray | None  # [256] byte -> id, or None when the tokenizer is not char-level
    _chars: np.ndarray | None  # [vocab] id -> character ('' for special tokens)

    @classmethod
    def of(cls, tokenizer) -> Codec:
        vocab = tokenizer.get_vocab()
        specials = set(tokenizer.all_special_tokens)
        plain = {t: i for t, i in vocab.items() if t not in specials}
        lut = chars = None
        if plain and all(len(t) == 1 and ord(t) < 256 for t in plain):
            lut = np.full(256, vocab.get(UNK, tokenizer.unk_token_id or 0), dtype=np.int64)
            chars = np.array([""] * (max(vocab.values()) + 1), dtype=object)
            for t, i in plain.items():
                lut[ord(t)] = i
                chars[i] = t
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        return cls(tokenizer=tokenizer, eos_id=int(tokenizer.eos_token_id), pad_id=int(pad), _lut=lut,
                   _chars=chars)

    def encode_prompts(self, prompts: Sequence[str]) -> list[list[int]]:
        """Token ids of each prompt, with whatever special tokens the tokenizer adds (BOS here)."""
        if self._lut is not None:
            bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
            return [bos + self.encode_text(p).tolist() for p in prompts]
        return [list(ids) for ids in self.tokenizer(list(prompts))["input_ids"]]

    def encode_text(self, text: str) -> np.ndarray:
        """Ids of a continuation (no special tokens)."""
        if self._lut is not None:
            return self._lut[np.frombuffer(text.encode("latin-1"), dtype=np.uint8)]
        return np.asarray(self.tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int64)

    def encode_texts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids of every continuation, concatenated [sum of lengths]; each one's length in ids [n]):
        ``encode_text`` of each, in one table lookup for a char-level tokenizer."""
        if self._lut is not None:
            flat = self._lut[np.frombuffer("".join(texts).encode("latin-1"), dtype=np.uint8)]
            return flat, np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        parts = [self.encode_text(t) for t in texts]
        return (np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64),
                np.array([len(p) for p in parts], dtype=np.int64))

    def decode(self, ids: np.ndarray) -> str:
        if self._chars is not None:
            return "".join(self._chars[np.asarray(ids, dtype=np.int64)])
        text = self.tokenizer.decode(list(ids), skip_special_tokens=True)
        assert isinstance(text, str)  # one sequence in, one string out
        return text
