import pytest
import torch

from ebtlab.errors import DataError
from ebtlab_text.data import IGNORE_INDEX, TextDataModule, TokenWindows, encode_documents
from ebtlab_text.tokenizer import train_tokenizer


def test_windows_shift_targets_by_one_and_pad_last():
    windows = TokenWindows(torch.arange(10), context_length=4, padding_id=99)
    assert len(windows) == 3
    assert windows[0]["observed"].tolist() == [0, 1, 2, 3]
    assert windows[0]["target"].tolist() == [1, 2, 3, 4]
    assert windows[2]["observed"].tolist() == [8, 9, 99, 99]
    assert windows[2]["target"].tolist() == [9, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]


def test_exact_fit_has_no_padding():
    windows = TokenWindows(torch.arange(9), context_length=4, padding_id=99)
    assert len(windows) == 2
    assert windows[1]["target"].tolist() == [5, 6, 7, 8]


def test_documents_end_with_end_of_text():
    tokenizer = train_tokenizer(["abc def"] * 5, vocab_size=270)
    stream = encode_documents(tokenizer, ["abc", "def"])
    assert (stream == tokenizer.eos_token_id).sum() == 2
    assert stream[-1] == tokenizer.eos_token_id


def test_too_little_data_for_one_batch():
    streams = {"train": torch.arange(40), "validation": torch.arange(20)}
    with pytest.raises(DataError, match="has 3 sequences of 16 tokens, fewer than one batch of data.batch_size=8"):
        TextDataModule(streams, padding_id=0, context_length=16, batch_size=8, num_workers=0, seed=0)


def test_training_order_is_seeded(kjv_modality):
    first = next(iter(kjv_modality.datamodule(seed=1).train_dataloader()))["observed"]
    again = next(iter(kjv_modality.datamodule(seed=1).train_dataloader()))["observed"]
    other = next(iter(kjv_modality.datamodule(seed=2).train_dataloader()))["observed"]
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_loaders_use_configured_workers():
    streams = {"train": torch.arange(200), "validation": torch.arange(50)}
    datamodule = TextDataModule(streams, padding_id=0, context_length=8, batch_size=4, num_workers=2, seed=0)
    loader = datamodule.train_dataloader()
    assert loader.num_workers == 2
    assert next(iter(loader))["observed"].shape == (4, 8)
    assert datamodule.val_dataloader().num_workers == 2


def test_training_loader_resumes_at_start_batch():
    streams = {"train": torch.arange(400), "validation": torch.arange(50)}

    def training_batches(start_batch: int, epochs: int) -> list[torch.Tensor]:
        datamodule = TextDataModule(streams, padding_id=0, context_length=8, batch_size=4, num_workers=0, seed=3, start_batch=start_batch)
        loader = datamodule.train_dataloader()
        return [batch["observed"] for _ in range(epochs) for batch in loader]

    uninterrupted = training_batches(0, epochs=3)
    assert len(uninterrupted) == 3 * 12  # 49 windows: 12 batches of 4 per epoch
    resumed = training_batches(17, epochs=2)  # 17 batches done: epoch 1 from its 6th batch, then epoch 2
    assert len(resumed) == len(uninterrupted) - 17
    for expected, batch in zip(uninterrupted[17:], resumed):
        assert torch.equal(batch, expected)
