"""Attention-based speech recognition: location-aware attention (Chorowski et al. 2015) and LAS's
pyramidal listener (Chan et al. 2016), on synthetic speech."""

from attnzoo.models.speech.model import Listener, SpeechConfig, SpeechOutput, SpeechRecognizer, stack_frames

__all__ = ["Listener", "SpeechConfig", "SpeechOutput", "SpeechRecognizer", "stack_frames"]
