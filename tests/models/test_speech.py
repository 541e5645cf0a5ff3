"""Location-aware attention (Chorowski et al. 2015) and the speech recogniser against their equations."""

from __future__ import annotations

import json
import math
import shutil
import wave

import numpy as np
import pytest
import torch

from attnzoo.attention import LocationAwareAttention, LocationAwareScore, SmoothedLocationAwareAttention
from attnzoo.models.speech.model import SpeechConfig, SpeechRecognizer, stack_frames
from attnzoo.models.speech.recipe import SpeechRecipe, edit_distance, letter_hits, letters_inside
from attnzoo.registry import create_model, load_recipe, make_config
from attnzoo.tasks import speech
from attnzoo.training import train

NO_ESPEAK = "espeak-ng is not installed (sudo apt-get install espeak-ng): the synthetic speech needs it"


def reference_scores(score: LocationAwareScore, query, keys, previous):
    """Eqs. (8)-(9) one (i, j) at a time: f_i = F * α_{i-1} (zero-padded), e_ij = w^T tanh(W s + V h_j + U f_ij + b)."""
    B, Tq, Tk = previous.shape
    kernel = score.F.weight[:, 0, :]  # (k, r)
    half = kernel.size(1) // 2
    out = torch.zeros(B, Tq, Tk, dtype=query.dtype)
    for b in range(B):
        for i in range(Tq):
            for j in range(Tk):
                f = torch.zeros(kernel.size(0), dtype=query.dtype)
                for offset in range(-half, half + 1):  # a cross-correlation, as the paper's F * α
                    if 0 <= j + offset < Tk:
                        f = f + kernel[:, offset + half] * previous[b, i, j + offset]
                hidden = score.W_a.weight @ query[b, i] + score.U_a.weight @ keys[b, j] + score.U_a.bias
                out[b, i, j] = score.v_a.weight[0] @ torch.tanh(hidden + score.U.weight @ f)
    return out


def test_location_aware_score_is_equation_9():
    torch.manual_seed(0)
    score = LocationAwareScore(5, 4, 6, filters=3, width=5).double()
    query, keys = torch.randn(2, 3, 5, dtype=torch.double), torch.randn(2, 7, 4, dtype=torch.double)
    previous = torch.softmax(torch.randn(2, 3, 7, dtype=torch.double), dim=-1)
    torch.testing.assert_close(score(query, keys, previous), reference_scores(score, query, keys, previous))


def test_previous_alignment_changes_the_scores_and_content_only_ignores_it():
    torch.manual_seed(1)
    score = LocationAwareScore(4, 4, 8, filters=2, width=3)
    query, keys = torch.randn(1, 1, 4), torch.randn(1, 6, 4)
    early, late = torch.eye(6)[None, :1], torch.eye(6)[None, 5:]  # α_{i-1} on frame 0 / frame 5
    assert not torch.allclose(score(query, keys, early), score(query, keys, late))


@pytest.mark.parametrize("kind", [LocationAwareAttention, SmoothedLocationAwareAttention])
def test_gradcheck_float64(kind):
    torch.manual_seed(2)
    attention = kind(LocationAwareScore(3, 2, 4, filters=2, width=3), sharpening=1.5).double()
    query, keys = torch.randn(2, 3, dtype=torch.double), torch.randn(2, 5, 2, dtype=torch.double)
    previous = torch.softmax(torch.randn(2, 5, dtype=torch.double), dim=-1)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    inputs = tuple(tensor.requires_grad_() for tensor in (query, keys, previous))

    def run(query, keys, previous):
        return attention(query, keys, previous=previous, mask=mask)

    assert torch.autograd.gradcheck(lambda *args: run(*args).context, inputs)
    assert torch.autograd.gradcheck(lambda *args: run(*args).weights, inputs)


def test_sharpening_and_smoothing_normalise_as_section_2_3():
    torch.manual_seed(3)
    score = LocationAwareScore(3, 2, 4, filters=2, width=3)
    query, keys = torch.randn(2, 3), torch.randn(2, 6, 2)
    previous = torch.softmax(torch.randn(2, 6), dim=-1)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    e = score(query[:, None], keys, previous[:, None])[:, 0]  # (B, Tk)
    sharp = LocationAwareAttention(score, sharpening=2.0)(query, keys, previous=previous, mask=mask).weights
    smooth = SmoothedLocationAwareAttention(score)(query, keys, previous=previous, mask=mask).weights
    for row, allowed in enumerate(mask):
        n = int(allowed.sum())
        expected_sharp = torch.exp(2.0 * e[row, :n]) / torch.exp(2.0 * e[row, :n]).sum()  # exp(β e) / Σ exp(β e)
        expected_smooth = torch.sigmoid(e[row, :n]) / torch.sigmoid(e[row, :n]).sum()  # σ(e) / Σ σ(e)
        torch.testing.assert_close(sharp[row, :n], expected_sharp)
        torch.testing.assert_close(smooth[row, :n], expected_smooth)
        assert sharp[row, n:].abs().sum() == 0 and smooth[row, n:].abs().sum() == 0  # padding: zero weight


def test_shapes_are_checked():
    attention = LocationAwareAttention(LocationAwareScore(3, 2, 4))
    with pytest.raises(ValueError, match="previous"):
        attention(torch.randn(2, 3), torch.randn(2, 5, 2), previous=torch.randn(2, 4))
    with pytest.raises(ValueError, match="query"):
        attention(torch.randn(2, 4), torch.randn(2, 5, 2), previous=torch.randn(2, 5))


def test_mel_filterbank_against_the_triangle_formula():
    bank = speech.mel_filterbank(n_mels=6, n_fft=64, rate=8000)
    mel = lambda hz: 2595 * math.log10(1 + hz / 700)  # noqa: E731
    top = mel(4000)
    edges = [700 * (10 ** (top * m / 7 / 2595) - 1) for m in range(8)]  # 8 edges evenly spaced in mel
    for b in range(33):
        f = b * 4000 / 32
        for m in range(6):
            lower, centre, upper = edges[m], edges[m + 1], edges[m + 2]
            expected = (f - lower) / (centre - lower) if lower <= f <= centre else 0.0
            expected = (upper - f) / (upper - centre) if centre < f <= upper else expected
            assert bank[b, m].item() == pytest.approx(expected, abs=1e-6)


def test_features_of_a_sine():
    rate, hz = speech.SAMPLE_RATE, 1000.0
    samples = 0.5 * np.sin(2 * np.pi * hz * np.arange(8000) / rate).astype(np.float32)  # 0.5 s
    waves = torch.from_numpy(samples)[None]
    power = speech.power_spectrum(waves)[0]  # (T, F)
    assert power.shape == (speech.frame_count(8000), speech.WINDOW // 2 + 1) == (48, 201)
    window = torch.hann_window(speech.WINDOW, periodic=True)
    frame = waves[0, : speech.WINDOW] * window
    one_sided = power[0, 0] + 2 * power[0, 1:-1].sum() + power[0, -1]  # Parseval: Σ|X_k|² = N Σ x_n²
    assert one_sided.item() == pytest.approx(speech.WINDOW * frame.pow(2).sum().item(), rel=1e-4)
    energies = speech.log_mel(waves)[0]  # (T, M)
    assert energies.shape == (48, speech.N_MELS)
    bank = speech.mel_filterbank()
    centres = (bank * torch.linspace(0, rate / 2, 201)[:, None]).sum(0) / bank.sum(0)  # each filter's centre
    assert int(energies.mean(0).argmax()) == int((centres - hz).abs().argmin())
    normalised = speech.features([samples])[0]
    assert normalised.shape == (48, speech.N_MELS)
    torch.testing.assert_close(normalised.mean(0), torch.zeros(speech.N_MELS), atol=1e-4, rtol=0)


def test_frame_segments_cover_the_window_centres():
    segments = speech.frame_segments(np.array([[1000, 4000]]))
    start, end = segments[0]
    centres = np.arange(40) * speech.HOP + speech.WINDOW // 2
    assert set(range(start, end)) == set(np.flatnonzero((centres >= 1000) & (centres < 4000)))


def test_stack_frames_and_pyramid_lengths():
    inputs = torch.arange(2 * 5 * 1, dtype=torch.float).reshape(2, 5, 1)
    stacked, lengths = stack_frames(inputs, torch.tensor([5, 3]), 2)
    assert stacked.shape == (2, 3, 2) and lengths.tolist() == [3, 2]
    assert stacked[0].tolist() == [[0, 1], [2, 3], [4, 0]]
    config = SpeechConfig(pyramidal=True, encoder_layers=3, encoder_size=4, decoder_size=8, attention_dim=4)
    model = SpeechRecognizer(config)
    encoded, encoded_lengths = model.listener(torch.randn(2, 33, config.features), torch.tensor([33, 17]))
    assert config.reduction == 8 and encoded.shape == (2, 5, 8) and encoded_lengths.tolist() == [5, 3]
    assert encoded[1, 3:].abs().sum() == 0  # padding states stay zero


def test_decoder_padding_frames_get_zero_weight():
    torch.manual_seed(4)
    config = SpeechConfig(encoder_layers=1, encoder_size=4, decoder_size=8, attention_dim=4, location_width=3)
    model = SpeechRecognizer(config)
    output = model(torch.randn(2, 20, config.features), torch.tensor([20, 9]), torch.tensor([[1, 5, 6], [1, 7, 0]]))
    assert output.weights.shape == (2, 3, 10) and output.lengths.tolist() == [10, 5]
    assert output.weights[1, :, 5:].abs().sum() == 0
    torch.testing.assert_close(output.weights.sum(-1), torch.ones(2, 3))


def test_window_keeps_the_states_near_the_previous_median():
    config = SpeechConfig(encoder_layers=1, encoder_size=4, decoder_size=8, attention_dim=4, window=4)  # 2 states
    model = SpeechRecognizer(config)
    previous = torch.tensor([[0.0, 0.1, 0.2, 0.1, 0.3, 0.3, 0.0, 0.0, 0.0, 0.0]])  # cumulative sum reaches 1/2 at 4
    assert model.window_mask(previous).tolist() == [[False, False, True, True, True, True, True, False, False, False]]
    output = model(torch.randn(1, 20, config.features), torch.tensor([20]), torch.tensor([[1, 5, 6, 7]]))
    for step in range(1, 4):  # α_i is zero outside ± 2 states of α_{i-1}'s median
        median = int((output.weights[0, step - 1].cumsum(0) < 0.5).sum())
        outside = (torch.arange(10) - median).abs() > 2
        assert output.weights[0, step][outside].abs().sum() == 0


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3
    assert edit_distance("one two", "one two") == 0
    assert edit_distance("ab", "ba") == 2  # no transpositions


def test_letters_inside_counts_the_word_segments():
    text = "ab c"  # word 0 = frames [0, 4), word 1 = frames [6, 8); reduction 2: state j = frames 2j, 2j+1
    segments = np.array([[0, 4], [6, 8]])
    weights = np.eye(4)[[0, 3, 0, 3]]  # a -> state 0 (in), b -> state 3 (frames 6-7: out), c -> state 3 (in)
    assert letters_inside(weights, text, segments, 2) == (2, 3)
    # b's state 3 (frames 6-7) is 3 frames past word 0's end (4): +3; with c on state 0 (frames 0-1): 4 before word 1
    assert letter_hits(weights, text, segments, 2) == [(True, 0), (False, 3), (True, 0)]
    assert letter_hits(np.eye(4)[[0, 3, 0, 0]], text, segments, 2)[-1] == (False, -4)


def write_raw_wav(path, rate, channels):
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.zeros(rate * channels, dtype="<i2").tobytes())


def test_transcribe_refuses_other_formats_in_one_line(tmp_path):
    recipe, model = SpeechRecipe("speech"), SpeechRecognizer(SpeechConfig())
    write_raw_wav(tmp_path / "stereo.wav", 16000, 2)
    write_raw_wav(tmp_path / "low.wav", 8000, 1)
    (tmp_path / "text.wav").write_text("not a wav")
    for name, message in [("stereo.wav", "mono"), ("low.wav", "16 kHz"), ("text.wav", "not a readable WAV")]:
        with pytest.raises(ValueError, match=message) as error:
            recipe.transcribe(model, None, [str(tmp_path / name)], None)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="no such file"):
        recipe.transcribe(model, None, [str(tmp_path / "missing.wav")], None)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason=NO_ESPEAK)
def test_espeak_words_are_cached_and_utterance_boundaries_are_exact(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    settings = speech.voice_settings(1)
    bank = speech.word_bank(settings)[0]
    assert set(bank) == set(speech.WORDS) and all(len(item) > speech.SAMPLE_RATE // 10 for item in bank.values())
    assert len(list((tmp_path / "attnzoo" / "speech").glob("*.npz"))) == 1
    monkeypatch.setattr(speech, "synthesise", lambda *_: pytest.fail("synthesised again instead of read"))
    assert all(np.array_equal(bank[w], speech.word_bank(settings)[0][w]) for w in speech.WORDS)
    utterance = speech.make_utterance(np.random.default_rng(0), bank, 4, snr_db=(200.0, 200.0))  # no noise
    gain = None
    for (start, end), word in zip(utterance.segments, utterance.words, strict=True):
        piece = utterance.wave[start:end]
        gain = gain or float(piece @ bank[word] / (bank[word] @ bank[word]))
        np.testing.assert_allclose(piece, gain * bank[word], atol=1e-6)  # the word is exactly there
        assert np.abs(utterance.wave[end : end + 100]).max() < 1e-6  # and silence after it


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason=NO_ESPEAK)
def test_explorer_views_are_the_decoded_alignments_over_time(tmp_path, monkeypatch):
    from attnzoo.explorer.views import check_view

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model_sizes, task_sizes = load_recipe("speech").example()
    recipe = load_recipe("speech", task_sizes)
    data = recipe.build_task(0)
    model = create_model("speech", recipe.sized_config(make_config("speech", None, **model_sizes), data)).eval()
    views = recipe.attention_views(model, data)
    assert len(views) == recipe.probes and all(view["kind"] == "alignment" for view in views)
    for view in views:
        check_view(json.loads(json.dumps(view)))
        assert view["source"][:2] == ["0.00s", f"{model.config.reduction * 0.01:.2f}s"]  # encoder states by time
        assert all(sum(row) == pytest.approx(1, abs=1e-3) for row in view["weights"])
    with pytest.raises(ValueError, match="attnzoo transcribe"):
        recipe.attention_views(model, data, ["seven four"])


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason=NO_ESPEAK)
def test_a_run_resumed_in_the_middle_of_an_epoch_sees_the_remaining_length_buckets(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model_sizes, task_sizes = load_recipe("speech").example()
    settings = {"batch_size": 2, "steps": 10, "val_every": 3, "checkpoint_every": 3, "schedule": "constant"}

    def run(out, **training):
        options = {"model": model_sizes, "task": task_sizes, "progress": False, "threads": 1}
        return train("speech", tmp_path / out, training=settings | training, **options)

    straight = run("straight")  # 16 utterances in batches of 2: 8 batches an epoch
    run("stopped", steps=3)  # stopped after 3 of epoch 0's 8 batches
    resumed = train("speech", tmp_path / "stopped", training={"steps": 10}, resume=True, progress=False, threads=1)
    expected = straight.load_model().state_dict()
    for key, value in resumed.load_model().state_dict().items():
        assert torch.equal(value, expected[key]), key


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason=NO_ESPEAK)
def test_concatenated_training_utterances_join_two_to_four_and_leave_the_tests_as_they_were(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    sizes = {"voices": 1, "min_words": 1, "max_words": 2, "train_size": 60, "valid_size": 3, "test_size": 3}

    def splits(share):
        data = load_recipe("speech", sizes | {"long_test_size": 2, "concatenated_share": share}).build_task(0)
        splits = [("train", 1), ("valid", 1), ("test", 1), ("test", 3)]
        return [data.split(name, factor).texts for name, factor in splits]

    plain, joined, half = splits(0.0), splits(1.0), splits(0.5)
    assert plain[1:] == joined[1:] == half[1:]  # validation and the 1x / 3x tests do not change
    words = [[len(text.split(" ")) for text in texts] for texts in (plain[0], joined[0], half[0])]
    assert all(1 <= count <= 2 for count in words[0])  # ordinary: min_words-max_words
    assert all(2 <= count <= 8 for count in words[1]) and max(words[1]) > 4  # 2-4 joined ordinary ones
    longer = sum(count > 2 for count in words[2])
    assert 10 <= longer <= 50  # about half (some joined ones have only 2 words)


def test_runs_written_before_concatenated_share_load_with_none():
    from dataclasses import asdict
    from pathlib import Path

    from attnzoo.models.speech.recipe import SpeechTask
    from attnzoo.training.run import from_json

    older = {key: value for key, value in asdict(SpeechTask()).items() if key != "concatenated_share"}
    assert from_json(SpeechTask, older, Path("task.json")).concatenated_share == 0.0
    with pytest.raises(ValueError, match="concatenated_share"):
        SpeechTask(concatenated_share=1.5)


def test_the_location_window_preset_windows_the_teacher_forced_training_pass():
    tiny = {"encoder_layers": 1, "encoder_size": 4, "decoder_size": 8, "attention_dim": 4, "location_width": 3}
    model = create_model("speech", make_config("speech", "location-window", **tiny))
    assert model.config.window == 100 and model.config.attention == "location"
    frames = torch.randn(1, 400, model.config.features)  # 200 encoder states
    weights = model(frames, torch.tensor([400]), torch.tensor([[1, 5]])).weights.detach()
    assert weights[0, 0, 51:].abs().sum() == 0  # α_0 on state 0: ± 50 states (100 frames of 10 ms)
    assert float(weights[0, 0, :51].sum()) == pytest.approx(1.0)
