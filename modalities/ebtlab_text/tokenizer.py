"""A byte-level BPE tokenizer trained offline on the training split.

It is trained with `tokenizers` and wrapped in `transformers.PreTrainedTokenizerFast`. It is
built from the tokenizer object, because in transformers 5.25
`GPT2TokenizerFast(vocab_file=..., merges_file=...)` encodes every text to an empty list.
"""

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

END_OF_TEXT = "<|endoftext|>"
PADDING = "<|pad|>"


def train_tokenizer(documents: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer with at most `vocab_size` tokens, two of them special."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT, PADDING],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(documents, trainer=trainer)
    return wrap_tokenizer(tokenizer)


def wrap_tokenizer(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=END_OF_TEXT, pad_token=PADDING)


def tokenizer_from_json(serialized: str) -> PreTrainedTokenizerFast:
    """Rebuild a tokenizer from the JSON that `tokenizer_to_json` returns."""
    return wrap_tokenizer(Tokenizer.from_str(serialized))


def tokenizer_to_json(tokenizer: PreTrainedTokenizerFast) -> str:
    return tokenizer.backend_tokenizer.to_str()
