"""Text tokens for ebtlab: a byte-level BPE tokenizer, token candidates, and the King James Bible."""

from ebtlab_text.adapter import TextDataConfig, TextModality, TokenCandidates

__all__ = ["TextDataConfig", "TextModality", "TokenCandidates"]
