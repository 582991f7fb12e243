"""Recorded speech for ebtlab: log-mel frames predicted one after another, on real recordings offline."""

from ebtlab_audio.adapter import AudioDataConfig, AudioModality

__all__ = ["AudioDataConfig", "AudioModality"]
