"""Token streams cut into fixed-length training sequences, and the text data module.

Notation: S context length in tokens, W windows in a split.
"""

import torch
from torch.utils.data import DataLoader, Dataset
from transformers import PreTrainedTokenizerFast

from ebtlab.datamodule import SplitDataModule
from ebtlab.errors import DataError

# Targets at this index are padding and count in no loss or metric (torch's cross-entropy default).
IGNORE_INDEX = -100


def encode_documents(tokenizer: PreTrainedTokenizerFast, documents: list[str]) -> torch.Tensor:
    """Tokenize documents into one stream, each document followed by the end-of-text token."""
    stream: list[int] = []
    for ids in tokenizer(documents, add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
        stream.append(tokenizer.eos_token_id)
    return torch.tensor(stream, dtype=torch.long)


class TokenWindows(Dataset):
    """Non-overlapping windows of a token stream: observed tokens t..t+S-1, targets t+1..t+S.

    The last window is padded: its missing observed tokens are the padding token and its
    missing targets are IGNORE_INDEX.
    """

    def __init__(self, stream: torch.Tensor, context_length: int, padding_id: int):
        if stream.numel() < 2:
            raise DataError("a split needs at least two tokens")
        self.context_length = context_length
        windows = -(-(stream.numel() - 1) // context_length)  # ceil((N - 1) / S)
        padded_length = windows * context_length + 1
        self.observed = torch.full((padded_length,), padding_id, dtype=torch.long)
        self.observed[: stream.numel()] = stream
        self.targets = torch.full((padded_length,), IGNORE_INDEX, dtype=torch.long)
        self.targets[: stream.numel()] = stream

    def __len__(self) -> int:
        return (self.observed.numel() - 1) // self.context_length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = index * self.context_length
        return {
            "observed": self.observed[start : start + self.context_length],  # (S,)
            "target": self.targets[start + 1 : start + self.context_length + 1],  # (S,)
        }


def window_loader(stream: torch.Tensor, padding_id: int, context_length: int, batch_size: int) -> DataLoader:
    """Return the windows of a token stream in order, in batches, for evaluation."""
    return DataLoader(TokenWindows(stream, context_length, padding_id), batch_size=batch_size)


class TextDataModule(SplitDataModule):
    """Training, validation and test windows of tokenized splits."""

    def __init__(
        self,
        streams: dict[str, torch.Tensor],
        *,
        padding_id: int,
        context_length: int,
        batch_size: int,
        num_workers: int,
        seed: int,
        start_batch: int = 0,
    ):
        datasets = {split: TokenWindows(stream, context_length, padding_id) for split, stream in streams.items()}
        if len(datasets["train"]) < batch_size:
            raise DataError(
                f"the training split has {len(datasets['train'])} sequences of {context_length} tokens, "
                f"fewer than one batch of data.batch_size={batch_size}"
            )
        super().__init__(datasets, batch_size=batch_size, num_workers=num_workers, seed=seed, start_batch=start_batch)
