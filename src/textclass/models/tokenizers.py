"""Tokenizers learnt from the training texts, for models trained from scratch.

Built with Hugging Face `tokenizers` (WordPiece or BPE) and wrapped as a
`PreTrainedTokenizerFast`, so it is saved, loaded and called exactly like a pretrained model's
tokenizer. It is Unicode-aware for any script:

- NFKC normalisation, optional lowercasing, and never accent stripping: BERT's `strip_accents`
  deletes combining marks, which would delete the vowel signs of Telugu or Devanagari;
- pre-tokenisation on whitespace and Unicode punctuation (WordPiece), or SentencePiece-style
  `Metaspace` (BPE, whose decoding restores the text exactly);
- the alphabet is every character of the training texts, so no script falls to `[UNK]`.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
from tokenizers import models as tk_models
from transformers import PreTrainedTokenizerFast

from textclass.config.schema import TokenizerConfig

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL = [PAD, UNK, CLS, SEP, MASK]  # PAD first: id 0


def _normalizer(lowercase: bool) -> normalizers.Normalizer:
    steps = [normalizers.NFKC()]
    if lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps)


def train_tokenizer(
    texts: Iterable[str], cfg: TokenizerConfig, max_length: int = 512
) -> PreTrainedTokenizerFast:
    """A WordPiece or BPE tokenizer trained on `texts`, with BERT-style [CLS] a [SEP] b [SEP]
    framing (and token type ids) for text pairs."""
    if cfg.kind == "wordpiece":
        tok = Tokenizer(tk_models.WordPiece(unk_token=UNK, max_input_chars_per_word=100))
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(
            vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency, special_tokens=SPECIAL
        )
    else:
        tok = Tokenizer(tk_models.BPE(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(
            vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency, special_tokens=SPECIAL
        )
    tok.normalizer = _normalizer(cfg.lowercase)
    tok.train_from_iterator(texts, trainer)
    cls_id, sep_id = tok.token_to_id(CLS), tok.token_to_id(SEP)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(CLS, cls_id), (SEP, sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD,
        unk_token=UNK,
        cls_token=CLS,
        sep_token=SEP,
        mask_token=MASK,
        model_max_length=max_length,
    )
