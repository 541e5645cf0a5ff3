"""Synthetic speech, generated offline: spoken digit and word strings with exact word boundaries.

Speech recognition data cannot be downloaded here, so it is synthesised with Debian's ``espeak-ng``
(``apt-get install espeak-ng``). Synthesising every utterance would be slow, so each word of
:data:`WORDS` is synthesised **once per voice setting** (a voice, a variant, a speed and a pitch:
:func:`voice_settings`), its silence trimmed, resampled to 16 kHz and cached on disk
(:func:`word_bank`, under ``$XDG_CACHE_HOME/attnzoo/speech``). An utterance is then a concatenation
of word waveforms of one voice setting with random short silences between them, a random gain and
additive white noise (:func:`make_utterance`): the word boundaries are exact by construction, and an
utterance 3× or 10× longer is just more words (the concatenated-utterance test of Chorowski et al.
2015, §4). Thousands of utterances take seconds once the words are cached (a few hundred short
``espeak-ng`` calls, about ten seconds, the first time).

Features are log-mel filterbank energies computed with torch (:func:`log_mel`: ``torch.stft`` and
the triangular filterbank of :func:`mel_filterbank`; no torchaudio), 25 ms windows every 10 ms,
normalised per utterance (mean and variance of each channel, which also removes the gain).

Shape legend: ``N`` samples, ``T`` frames, ``M`` mel channels, ``K`` words.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

SAMPLE_RATE = 16_000  # Hz of every waveform here (espeak-ng's 22,050 Hz output is resampled)
WINDOW = 400  # samples per analysis frame: 25 ms
HOP = 160  # samples between frames: 10 ms
N_MELS = 40  # mel channels of the features
WORDS = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    *("yes", "no", "up", "down", "left", "right", "go", "stop", "on", "off"),
)
VOICES = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")  # espeak-ng English voices
VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4")  # espeak-ng voice variants (+m3: male 3)
SPEEDS = (130, 200)  # words per minute, drawn uniformly in this range
PITCHES = (25, 75)  # espeak-ng pitch (0-99), drawn uniformly in this range
SYNTHESIS_VERSION = 1  # bump when synthesise() changes, so that cached words are synthesised anew
ESPEAK_MISSING = (
    "espeak-ng is not installed; the speech data is synthesised with it: "
    "install it with `sudo apt-get install espeak-ng` (Debian/Ubuntu)"
)


@dataclass(frozen=True)
class VoiceSetting:
    """One way of speaking: an espeak-ng voice and variant, a speed and a pitch."""

    voice: str  # e.g. "en-us"
    variant: str  # e.g. "f2"
    speed: int  # words per minute
    pitch: int  # 0-99

    @property
    def name(self) -> str:
        return f"{self.voice}+{self.variant}-s{self.speed}-p{self.pitch}"


@dataclass(frozen=True)
class Utterance:
    """A spoken word string: ``wave`` ``(N,)`` float32 at 16 kHz, its ``words`` and each word's
    ``segments`` ``(K, 2)`` int64 ``[start, end)`` sample positions."""

    wave: np.ndarray
    words: tuple[str, ...]
    segments: np.ndarray

    @property
    def text(self) -> str:
        return " ".join(self.words)


def espeak_available() -> bool:
    """True when ``espeak-ng`` is on the PATH."""
    return shutil.which("espeak-ng") is not None


def voice_settings(count: int, seed: int = 0) -> list[VoiceSetting]:
    """``count`` distinct voice settings drawn from :data:`VOICES` × :data:`VARIANTS` × speed × pitch."""
    rng = np.random.default_rng(seed)
    pairs = [(voice, variant) for voice in VOICES for variant in VARIANTS]
    order = rng.permutation(len(pairs))
    settings = []
    for index in range(count):
        voice, variant = pairs[order[index % len(pairs)]]
        speed, pitch = int(rng.integers(SPEEDS[0], SPEEDS[1] + 1)), int(rng.integers(PITCHES[0], PITCHES[1] + 1))
        settings.append(VoiceSetting(voice, variant, speed, pitch))
    return settings


def read_wav(data: bytes | Path, *, name: str = "audio") -> tuple[np.ndarray, int, int]:
    """A 16-bit PCM WAV (bytes or a file) -> ``(samples (N,) float32 in [-1, 1] of channel 0, rate, channels)``.

    Raises ``ValueError`` with one line for a missing file, a file that is not a WAV, or a
    sample width other than 16 bits.
    """
    try:
        handle = wave.open(io.BytesIO(data) if isinstance(data, bytes) else str(data), "rb")
    except FileNotFoundError:
        raise ValueError(f"{name}: no such file") from None
    except (wave.Error, EOFError, OSError) as error:
        raise ValueError(f"{name}: not a readable WAV file ({error})") from None
    with handle:
        rate, channels, width = handle.getframerate(), handle.getnchannels(), handle.getsampwidth()
        frames = handle.readframes(handle.getnframes())  # espeak's stream header overstates the count: reads to EOF
    if width != 2:
        raise ValueError(f"{name}: expected 16-bit PCM samples, got {8 * width}-bit")
    samples = np.frombuffer(frames[: len(frames) // (2 * channels) * 2 * channels], dtype="<i2")
    return samples.reshape(-1, channels)[:, 0].astype(np.float32) / 32768.0, rate, channels


def write_wav(path: str | Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write ``samples`` ``(N,)`` in [-1, 1] as a 16-bit mono PCM WAV at ``rate`` Hz."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())


def resample(samples: np.ndarray, rate: int, new_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Linear-interpolation resampling of ``samples`` ``(N,)`` from ``rate`` to ``new_rate`` Hz."""
    if rate == new_rate:
        return samples.astype(np.float32)
    count = int(round(len(samples) * new_rate / rate))
    positions = np.arange(count) * (rate / new_rate)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def trim(samples: np.ndarray, threshold: float = 0.02, margin: int = 80) -> np.ndarray:
    """``samples`` without the leading and trailing silence (|x| below ``threshold`` of the peak),
    keeping ``margin`` samples (5 ms) on each side."""
    loud = np.flatnonzero(np.abs(samples) >= threshold * max(np.abs(samples).max(), 1e-9))
    if not len(loud):
        return samples
    return samples[max(loud[0] - margin, 0) : loud[-1] + 1 + margin]


def synthesise(text: str, setting: VoiceSetting) -> np.ndarray:
    """``text`` spoken by ``setting`` with espeak-ng: ``(N,)`` float32 at 16 kHz, silence trimmed."""
    if not espeak_available():
        raise RuntimeError(ESPEAK_MISSING)
    command = ["espeak-ng", "--stdout", "-v", f"{setting.voice}+{setting.variant}"]
    command += ["-s", str(setting.speed), "-p", str(setting.pitch), text]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0 or not result.stdout:
        raise RuntimeError(f"espeak-ng failed for voice {setting.name}: {result.stderr.decode(errors='replace')}")
    samples, rate, _ = read_wav(result.stdout, name="espeak-ng output")
    return trim(resample(samples, rate))


def cache_directory() -> Path:
    """``$XDG_CACHE_HOME/attnzoo/speech`` (default ``~/.cache/attnzoo/speech``)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "attnzoo" / "speech"


def word_bank(settings: list[VoiceSetting]) -> list[dict[str, np.ndarray]]:
    """Every word of :data:`WORDS` spoken by each setting (``{word: (N,) float32}`` per setting),
    read from :func:`cache_directory` when there, else synthesised and cached."""
    key = hashlib.sha256(repr((WORDS, SAMPLE_RATE, SYNTHESIS_VERSION)).encode()).hexdigest()[:10]
    bank = []
    for setting in settings:
        path = cache_directory() / f"{setting.name}-{key}.npz"
        try:
            with np.load(path) as saved:
                bank.append({word: saved[word] for word in WORDS})
            continue
        except (OSError, KeyError, ValueError):  # not cached yet (or unreadable): synthesise
            pass
        words = {word: synthesise(word, setting) for word in WORDS}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.npz")
            np.savez(partial, **words)
            partial.replace(path)  # atomic: a concurrent reader sees the whole file or none
        except OSError:  # a read-only home: synthesise again next time
            pass
        bank.append(words)
    return bank


def make_utterance(
    rng: np.random.Generator, words: dict[str, np.ndarray], count: int, snr_db: tuple[float, float] = (15.0, 35.0)
) -> Utterance:
    """``count`` random words of one voice's ``words`` with 50-250 ms silences between them (100-300 ms
    before and after), a gain in [0.2, 1] and white noise at a signal-to-noise ratio drawn in ``snr_db``."""
    chosen = [WORDS[index] for index in rng.integers(len(WORDS), size=count)]
    pieces, segments, position = [], [], 0
    for index, word in enumerate(chosen):
        gap = int(SAMPLE_RATE * (rng.uniform(0.1, 0.3) if index == 0 else rng.uniform(0.05, 0.25)))  # silence
        pieces += [np.zeros(gap, np.float32), words[word]]
        segments.append((position + gap, position + gap + len(words[word])))
        position += gap + len(words[word])
    pieces.append(np.zeros(int(SAMPLE_RATE * rng.uniform(0.1, 0.3)), np.float32))
    speech = np.concatenate(pieces)
    power = float(np.mean(np.concatenate([words[word] for word in chosen]) ** 2))
    noise = rng.standard_normal(len(speech)).astype(np.float32) * math.sqrt(power / 10 ** (rng.uniform(*snr_db) / 10))
    wave_ = (speech + noise) * rng.uniform(0.2, 1.0)
    return Utterance(wave_.astype(np.float32), tuple(chosen), np.asarray(segments, dtype=np.int64))


# ---- features ------------------------------------------------------------------------------------


def hz_to_mel(hz: Tensor | float) -> Tensor | float:
    """The HTK mel scale, ``2595 log10(1 + f / 700)``."""
    return 2595.0 * (torch.log10(1 + hz / 700.0) if isinstance(hz, Tensor) else math.log10(1 + hz / 700.0))


def mel_to_hz(mel: Tensor) -> Tensor:
    """The inverse of :func:`hz_to_mel`."""
    return 700.0 * (10 ** (mel / 2595.0) - 1)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = WINDOW, rate: int = SAMPLE_RATE) -> Tensor:
    """Triangular mel filters: ``(n_fft // 2 + 1, n_mels)``, column ``m`` the weight of each FFT bin.

    Filter ``m`` rises linearly from the ``m``-th to the ``(m+1)``-th of ``n_mels + 2`` frequencies
    evenly spaced on the mel scale between 0 and ``rate / 2`` (peak 1) and falls to the ``(m+2)``-th.
    """
    edges = mel_to_hz(torch.linspace(0.0, hz_to_mel(rate / 2), n_mels + 2, dtype=torch.float64))  # (M + 2,)
    bins = torch.linspace(0.0, rate / 2, n_fft // 2 + 1, dtype=torch.float64)[:, None]  # (F, 1)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]  # (M,) each
    rising = (bins - lower) / (centre - lower)  # (F, M)
    falling = (upper - bins) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


def frame_count(samples: int) -> int:
    """Frames of an ``samples``-long waveform: one per ``HOP`` whose ``WINDOW`` fits."""
    return 0 if samples < WINDOW else 1 + (samples - WINDOW) // HOP


def power_spectrum(waves: Tensor) -> Tensor:
    """``|STFT|²`` with a Hann window of ``WINDOW`` every ``HOP``: ``(B, N)`` -> ``(B, T, WINDOW // 2 + 1)``."""
    if waves.dim() != 2 or waves.size(-1) < WINDOW:
        raise ValueError(f"waves: expected (B, N) with N >= {WINDOW}, got {tuple(waves.shape)}")
    window = torch.hann_window(WINDOW, periodic=True, dtype=waves.dtype, device=waves.device)
    spectrum = torch.stft(waves, WINDOW, HOP, window=window, center=False, return_complex=True)  # (B, F, T)
    return spectrum.abs().pow(2).transpose(1, 2)  # (B, T, F)


def log_mel(waves: Tensor, n_mels: int = N_MELS) -> Tensor:
    """Log-mel energies ``log(power @ filterbank + 1e-6)``: waves ``(B, N)`` -> ``(B, T, M)``."""
    return torch.log(power_spectrum(waves) @ mel_filterbank(n_mels).to(waves) + 1e-6)


def features(waves: list[np.ndarray], batch: int = 128) -> list[Tensor]:
    """The model's inputs for waveforms ``(N_i,)`` at 16 kHz (each at least ``WINDOW`` long): log-mel
    ``(T_i, M)``, each channel normalised to mean 0 and variance 1 over its utterance (a standard
    deviation below 0.1, a steady channel, counts as 0.1). Computed
    ``batch`` waveforms at a time (zero-padded; each keeps its own frames)."""
    order = sorted(range(len(waves)), key=lambda index: len(waves[index]))  # similar lengths together
    out: list[Tensor] = [torch.empty(0)] * len(waves)
    for first in range(0, len(order), batch):
        chunk = order[first : first + batch]
        padded = torch.zeros(len(chunk), max(len(waves[index]) for index in chunk))
        for row, index in enumerate(chunk):
            padded[row, : len(waves[index])] = torch.from_numpy(np.asarray(waves[index], dtype=np.float32))
        energies = log_mel(padded)  # (b, T, M)
        for row, index in enumerate(chunk):
            own = energies[row, : frame_count(len(waves[index]))]  # (T_i, M)
            out[index] = (own - own.mean(0)) / own.std(0).clamp_min(0.1)  # a steady channel stays ~0
    return out


def frame_segments(segments: np.ndarray) -> np.ndarray:
    """Sample segments ``(K, 2)`` -> the frames ``[start, end)`` whose window centre lies inside each."""
    centre = WINDOW // 2
    start = np.ceil((segments[:, 0] - centre) / HOP).clip(min=0)
    end = np.ceil((segments[:, 1] - centre) / HOP).clip(min=0)
    return np.stack([start, np.maximum(end, start + 1)], axis=1).astype(np.int64)
