"""The text modality: tokens in, a distribution over the vocabulary as the candidate.

Notation: B batch, S context length, D model width, V vocabulary size.
"""

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ebtlab.modality import CandidateSpace, Modality
from ebtlab.errors import ConfigError
from torch.utils.data import DataLoader

from ebtlab_text.corpus import file_documents, load_splits
from ebtlab_text.data import IGNORE_INDEX, TextDataModule, encode_documents, window_loader
from ebtlab_text.shifted import american_standard_chapters, python_docstrings, python_source
from ebtlab_text.tokenizer import tokenizer_from_json, tokenizer_to_json, train_tokenizer

log = logging.getLogger(__name__)

# 256 byte tokens plus the two special tokens.
MIN_VOCAB_SIZE = 258


@dataclass
class TextDataConfig:
    files: list[str] = field(default_factory=list)  # UTF-8 text files; empty: the King James Bible
    evaluation_files: list[str] = field(default_factory=list)  # extra UTF-8 files that `ebtlab think` evaluates on
    vocab_size: int = 1024
    context_length: int = 64  # tokens per training sequence
    batch_size: int = 32
    num_workers: int = 0


class TokenCandidates(CandidateSpace):
    """A candidate is a vector of logits over the vocabulary, evaluated at its softmax."""

    def __init__(self, vocab_size: int, width: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.projection = nn.Linear(vocab_size, width, bias=False)

    def initial(self, target: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # target: (B, S) -> standard normal logits (B, S, V)
        return torch.randn(*target.shape, self.vocab_size, generator=generator, device=target.device)

    def normalize(self, candidate: torch.Tensor) -> torch.Tensor:
        return torch.softmax(candidate, dim=-1)  # (B, S, V)

    def forward(self, normalized: torch.Tensor) -> torch.Tensor:
        return self.projection(normalized)  # (B, S, V) -> (B, S, D)


class TextModality(Modality):
    """Next-token prediction over a byte-level BPE vocabulary trained on the corpus."""

    name = "text"
    config_class = TextDataConfig

    def __init__(self, config: TextDataConfig):
        super().__init__(config)
        if config.vocab_size < MIN_VOCAB_SIZE:
            raise ConfigError(f"data.vocab_size must be at least {MIN_VOCAB_SIZE}, got {config.vocab_size}")
        if config.context_length < 1:
            raise ConfigError(f"data.context_length must be positive, got {config.context_length}")
        if config.batch_size < 1:
            raise ConfigError(f"data.batch_size must be positive, got {config.batch_size}")
        if config.num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {config.num_workers}")
        self.splits = None
        self.tokenizer = None
        self.streams: dict[str, torch.Tensor] = {}  # token stream of each split
        self.unigram_log_probs: torch.Tensor | None = None  # (V,)

    def prepare(self, state: dict | None = None) -> None:
        self.splits = load_splits(list(self.config.files))
        if state is None:
            log.info("training a %d-token BPE tokenizer on %d documents", self.config.vocab_size, len(self.splits.train))
            self.tokenizer = train_tokenizer(self.splits.train, self.config.vocab_size)
        else:
            self.tokenizer = tokenizer_from_json(state["tokenizer"])

        self.streams = {
            split: encode_documents(self.tokenizer, documents)
            for split, documents in (("train", self.splits.train), ("validation", self.splits.validation), ("test", self.splits.test))
            if documents
        }

        # Unigram reference: training-token frequencies with add-one smoothing.
        counts = torch.bincount(self.streams["train"], minlength=self.vocab_size)
        self.unigram_log_probs = torch.log((counts + 1.0) / (counts.sum() + self.vocab_size))

    def save(self, run_dir: Path) -> None:
        self.tokenizer.save_pretrained(run_dir / "tokenizer")

    def state_dict(self) -> dict:
        return {"tokenizer": tokenizer_to_json(self.tokenizer)}

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def context_length(self) -> int:
        return self.config.context_length

    def datamodule(self, *, seed: int, start_batch: int = 0) -> TextDataModule:
        return TextDataModule(
            self.streams,
            padding_id=self.tokenizer.pad_token_id,
            context_length=self.config.context_length,
            batch_size=self.config.batch_size,
            num_workers=self.config.num_workers,
            seed=seed,
            start_batch=start_batch,
        )

    def build_encoder(self, width: int) -> nn.Module:
        return nn.Embedding(self.vocab_size, width)

    def build_candidate_space(self, width: int) -> TokenCandidates:
        return TokenCandidates(self.vocab_size, width)

    def build_prediction_head(self, width: int) -> nn.Module:
        return nn.Linear(width, self.vocab_size, bias=False)  # (B, S, D) -> (B, S, V) logits

    def scored_mask(self, target: torch.Tensor) -> torch.Tensor:
        return target != IGNORE_INDEX

    def loss(self, candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # candidate: (B, S, V) logits, target: (B, S)
        return F.cross_entropy(candidate.flatten(0, 1), target.flatten(), ignore_index=IGNORE_INDEX)

    def unit_losses(self, candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # candidate: (B, S, V) logits, target: (B, S) -> (B, S), zero at ignored positions
        return F.cross_entropy(candidate.transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none")

    def evaluation_sets(self) -> dict[str, DataLoader]:
        """Return the KJV validation split, the shipped shifted sets, then each of data.evaluation_files."""
        documents = {
            "kjv_validation" if not self.config.files else "validation": self.splits.validation,
            "asv_bible": american_standard_chapters(),
            "python_docstrings": python_docstrings(),
            "python_code": python_source(),
        }
        for name in self.config.evaluation_files:
            documents[Path(name).name] = file_documents([name], key="data.evaluation_files")
        return {
            name: window_loader(encode_documents(self.tokenizer, texts), self.tokenizer.pad_token_id, self.config.context_length, self.config.batch_size)
            for name, texts in documents.items()
        }

    def metrics(self, candidate: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = self.scored_mask(target)
        correct = candidate.argmax(dim=-1) == target
        return {"accuracy": correct[mask].float().mean()}

    def summary_metrics(self, loss: float) -> dict[str, float]:
        return {"perplexity": math.exp(loss)}

    def reference_losses(self, target: torch.Tensor) -> dict[str, torch.Tensor]:
        scored = target[self.scored_mask(target)]
        log_probs = self.unigram_log_probs.to(target.device)
        return {"unigram_loss": -log_probs[scored].mean()}

    def prompt_units(self, prompt: str) -> torch.Tensor:
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ConfigError("--prompt is empty; give at least one character of text")
        return torch.tensor(ids, dtype=torch.long)  # (S,)

    def choose_units(self, prediction: torch.Tensor, *, temperature: float, generator: torch.Generator | None = None) -> torch.Tensor:
        # prediction: (B, S, V) logits -> (B, S) token ids
        if temperature == 0:
            return prediction.argmax(dim=-1)
        probabilities = torch.softmax(prediction / temperature, dim=-1)
        return torch.multinomial(probabilities.flatten(0, 1), 1, generator=generator).view(prediction.shape[:-1])

    def render_units(self, units: torch.Tensor) -> str:
        return self.tokenizer.decode(units.tolist())

    def describe(self, observed: torch.Tensor, candidate: torch.Tensor) -> str:
        # observed: (S,), candidate: (S, V)
        context = self.tokenizer.decode(observed.tolist())
        predicted = self.tokenizer.decode(candidate.argmax(dim=-1).tolist())
        return f"observed: {context}\n\npredicted next tokens: {predicted}"
