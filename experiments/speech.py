"""Attention-based speech recognition on synthetic speech: content-only against location-aware attention.

Chorowski et al. 2015 claim that content-only attention loses its place on utterances longer than
those it was trained on, and that location-aware attention (eqs. 8-9) does not; Chan et al. 2016's
pyramidal listener attends over fewer encoder states. Trains through ``attnzoo.training.train``,
each on one CPU thread for the same wall-clock budget, two at a time (``location`` beside ``las``
and ``content`` beside ``location-smooth``, so each pair shares the machine's load):

- ``content``: content-only additive attention (Bahdanau eq. 6);
- ``location``: location-aware attention (eqs. 8-9);
- ``location-smooth``: location-aware with §2.3's smoothing (sigmoid instead of exp);
- ``las``: location-aware attention over the pyramidal listener (one encoder state per 80 ms);

and, one at a time, fixes of what :mod:`speech_diagnosis` found (the location-aware weights
spread over the states a long utterance adds, which a training utterance never had):

- ``location-concat``: location-aware, half the training utterances 2-4 ordinary ones joined (the
  test lengths stay 1×, 3×, 10× of the ordinary 1-3 words);
- ``location-concat-all``: the same with every training utterance joined (12 minutes:
  ``--only location-concat-all --minutes 12``);
- ``location-window``: location-aware with §2.3's window in training as well as decoding.

Then it measures each on test utterances at the training length and 3× and 10× longer and writes
``docs/results/speech.md`` and ``docs/results/speech.png`` (content against location-aware alignments
on a short and a 10× utterance). A run whose directory holds a model is reused.

    nohup python experiments/speech.py --only location > runs/speech1.log 2>&1 &   # two at a time:
    nohup python experiments/speech.py --only las > runs/speech2.log 2>&1 &        # location beside las,
    nohup python experiments/speech.py --only content > runs/speech3.log 2>&1 &    # then content beside
    nohup python experiments/speech.py --only location-smooth > runs/speech4.log 2>&1 &  # location-smooth
    nohup python experiments/speech.py --only location-concat > runs/speech5.log 2>&1 &  # one at a time
    nohup python experiments/speech.py --only location-window > runs/speech6.log 2>&1 &  # (after it)
    nohup python experiments/speech.py --only location-concat-all --minutes 12 > runs/speech7.log 2>&1 &
    python experiments/speech.py          # trains what is missing, then the report
    python experiments/speech.py --minutes 0.3 --out runs/speech_smoke   # a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
from pathlib import Path

import numpy as np
import speech_diagnosis
import torch

from attnzoo.recipes import count_parameters
from attnzoo.registry import create_model
from attnzoo.training import Run, train_once

ROOT = Path(__file__).resolve().parent.parent
RUNS = ("content", "location", "location-smooth", "las", "location-concat", "location-window", "location-concat-all")
CHANGED = {"location-concat-all": ("location-concat", {"concatenated_share": 1.0})}  # run: (preset, task changes)
SHARPENED = 2.0  # β of the location-aware run decoded again with §2.3's sharpening (weights unchanged)
WINDOW = 100  # ± 10 ms frames of the windowed decoding (§2.3), around the median of the previous alignment
DIAGNOSED = ("content", "location", "location-concat", "location-concat-all", "location-window")  # diagnosed
PICTURED = ("content", "location", "location-concat", "location-window")  # the picture's columns
DECODED = {  # rows decoding a trained run differently: name: (run, model config changes at test time)
    "location-sharp": ("location", {"sharpening": SHARPENED}),
    "location-decoded-window": ("location", {"window": WINDOW}),
    "las-decoded-window": ("las", {"window": WINDOW}),
}
LABELS = {
    "location-sharp": f"location-aware, decoded with β = {SHARPENED:g}",
    "location-decoded-window": f"location-aware, decoded with a ± {WINDOW / 100:g} s window",
    "las-decoded-window": f"pyramidal (LAS), decoded with a ± {WINDOW / 100:g} s window",
    "content": "content-only (Bahdanau)",
    "location": "location-aware",
    "location-smooth": "location-aware, smoothed",
    "las": "location-aware, pyramidal (LAS)",
    "location-concat": "location-aware, trained on half 2-4 joined utterances",
    "location-concat-all": "location-aware, trained on 2-4 joined utterances only",
    "location-window": f"location-aware, ± {WINDOW / 100:g} s window in training and decoding",
}

REPORT = """# Attention-based speech recognition on synthetic speech

Chorowski et al. 2015; Chan et al. 2016. Written by `experiments/speech.py`{smoke}

Data (`attnzoo.tasks.speech`): words (the ten digits and ten commands) synthesised by espeak-ng in
24 voice settings (6 English voices × 9 variants, speed 130-200 words a minute, pitch 25-75), each
word once per setting; an utterance is 1-3 words of one setting with 50-250 ms silences, a gain in
[0.2, 1] and white noise at 15-35 dB SNR; 4,000 fixed training utterances; test sets of 200
utterances at the training length and 40 each at 3× (3-9 words) and 10× (10-30 words), from the
same voices. Features: 40 log-mel channels every 10 ms (25 ms Hann window), normalised per utterance.
Transcripts are characters (letters and space). Model: 3 bidirectional LSTM layers of 48 units per
direction over pairs of frames (20 ms; the pyramidal listener halves time at layers 2 and 3: 80 ms),
a decoder LSTM of 96, attention MLP of 32, location features k = 8 filters of width r = 21; greedy
decoding through `attnzoo.decoding`. Training: batches of 32 utterances of similar length, Adam 2e-3
with cosine decay, the weights of the best validation CER kept, **the wall-clock minutes below per
model on one thread of a shared 2-core machine**, the first four two at a time (load averages below
are the whole machine's, with other users' jobs), torch {torch}, Python {python}, {cpus} CPUs. The
last three runs were trained later, one at a time beside two other users' trainings (load about 3):
the same minutes bought fewer steps, and a joined utterance costs about twice an ordinary one.
Their training sets: `location-concat`, half of its 4,000 utterances 2-4 ordinary ones joined (2-12
words; the silences, gain and noise of one utterance); `location-concat-all`, all of them; their
validation and test utterances are the same as every other run's (1-3, 3-9 and 10-30 words).

| run | parameters | minutes | steps | utterances seen | weights kept (best validation CER) | load avg (mean) |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{runs}

## Why the location-aware model runs away at 10×

{diagnosis}

## Character error rate by utterance length (greedy)

CER: the edit distance to the reference over the references' characters, summed over the test set
(above 1 when the output is much longer than the reference, e.g. a loop). Prefix CER, a diagnostic:
the same with each hypothesis cut to its reference's length (low prefix CER with a high CER: the
model spelled the utterance and then did not stop). The last three rows decode trained runs (the same
weights) with §2.3's sharpening, `α ∝ exp(β e)` with β = {sharpened:g}, or its windowing: each step attends
only to the states within ± {window:g} s of the median of the previous step's alignment; neither was
used in training.

| model | CER 1× | CER 3× | CER 10× | CER 10× / 1× | prefix CER 3× | prefix CER 10× |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{cer}

Where the attention is, teacher-forced on the reference: the share of letters whose attention argmax
(an encoder state covering 20 ms, or 80 ms for the pyramidal listener, so its test is looser)
overlaps the gold frames of the word being spelled:

| model | letters in their word, 1× | 3× | 10× |
| --- | ---: | ---: | ---: |
{inside}

## What the fixes did

{fixes}

## Training time

Minutes of training until the validation CER (200 utterances, every 100 steps) first reached
{threshold:.3f}, the best validation CER of the non-pyramidal location-aware model (trained at the same
time as the pyramidal one, so both saw the same load; the last three rows were trained later at a
higher load, and a joined utterance costs about twice an ordinary one):

| model | minutes to validation CER <= {threshold:.3f} | best validation CER | at minute |
| --- | ---: | ---: | ---: |
{times}

## Goals

{goals}

Alignments (decoded, greedy) under the spectrogram of the first test utterance at the training
length (top) and 10× longer (bottom), left to right: content-only, location-aware, location-aware
trained on half joined utterances, and location-aware with the ± {window:g} s window in training and
decoding; cyan bands are the gold words:

![alignments](speech.png)

Reproduce: `python experiments/speech.py` (runs under `runs/speech/`).
"""


def run(name: str, out: Path, minutes: float, seed: int) -> Run:
    """Train run ``name`` into ``out/name`` (a finished run is reused, a stopped one resumed); return it."""
    preset, task = CHANGED.get(name, (name, {}))
    print(f"{name}: preset {preset} {task}, {minutes:.1f} min of training", flush=True)
    every = 100 if minutes >= 2 else 20
    training = {"steps": 1_000_000, "minutes": minutes, "val_every": every, "checkpoint_every": every, "seed": seed}
    return train_once("speech", out / name, preset=preset, task=task, training=training, threads=1, progress=False)


def load_model(run: Run, changes: dict | None = None) -> torch.nn.Module:
    """The run's model, its config changed by ``changes`` (e.g. a decoding window): the same weights."""
    model = run.load_model()
    if not changes:
        return model
    changed = create_model("speech", dataclasses.replace(run.config(), **changes))
    changed.load_state_dict(model.state_dict())
    return changed.eval()


def measure(directory: Path, changes: dict | None = None) -> dict[str, float]:
    """The test metrics (1×, 3×, 10×) of a finished run (decoded with its config ``changes`` when given:
    the same weights), and its steps, load and parameters."""
    run = Run(directory)
    recipe, model = run.recipe(), load_model(run, changes)
    metrics = recipe.evaluate(model, run.build_task(recipe), "test")
    rows = run.metrics_rows()
    steps = int(float(rows[-1]["step"])) if rows else 0
    load = float(np.mean([float(row["load"]) for row in rows])) if rows else float("nan")
    batch, kept = run.training().batch_size, run.read_json("metrics.json").get("kept_step")
    curve = [(float(row["seconds"]) / 60, float(row["valid_cer"])) for row in rows]
    sizes = {"steps": steps, "utterances": steps * batch, "kept": kept, "parameters": count_parameters(model)}
    sizes["minutes"] = run.read_json("training.json")["done"]["seconds"] / 60
    return {**metrics, **sizes, "load": load, "curve": curve}


def diagnose(directory: Path) -> dict:
    """:func:`speech_diagnosis.diagnose` of a finished run."""
    run = Run(directory)
    recipe = run.recipe()
    return speech_diagnosis.diagnose(recipe, run.load_model(), run.build_task(recipe))


def minutes_to(curve: list[tuple[float, float]], threshold: float) -> float | None:
    """The first minute at which the validation CER was at most ``threshold`` (None: never)."""
    return next((minute for minute, cer in curve if cer <= threshold + 1e-9), None)


LOCATION_ROWS = (
    *("location", "location-smooth", "las", "location-concat", "location-concat-all", "location-window"),
    *("location-sharp", "location-decoded-window", "las-decoded-window"),
)


def goals(results: dict[str, dict], threshold: float) -> str:
    """The issue's goals, each with the measured numbers and met / not met (per location-aware row)."""
    content, location, las = results["content"], results["location"], results["las"]

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    def length_verdict(r: dict) -> str:
        if r["cer"] == 0 < r["cer_10x"]:  # the ratio is undefined: say so, with the 10× CER
            return f"1× CER 0, so the ratio is undefined; 10× CER {r['cer_10x']:.3f}"
        return verdict(ratio(r) <= 1.5)

    def holds(r: dict) -> str:
        return f"{r['cer_10x']:.3f} against {r['cer']:.3f} (× {ratio(r):.2f}): {length_verdict(r)}"

    best = {name: min(r["curve"], key=lambda point: point[1]) for name, r in results.items() if "curve" in r}
    las_minutes, location_minutes = minutes_to(las["curve"], threshold), minutes_to(location["curve"], threshold)
    faster = las_minutes is not None and location_minutes is not None and las_minutes < location_minutes
    lines = ["- Location-aware CER at 10× <= 1.5 × its CER at 1×:"]
    lines += [f"  - {LABELS[name]}: {holds(results[name])}." for name in LOCATION_ROWS]
    lines += [
        f"- Content-only degrades >= 3× or fails at 10×: {content['cer_10x']:.3f} against {content['cer']:.3f} "
        f"(× {ratio(content):.2f}): {verdict(ratio(content) >= 3 or content['cer_10x'] >= 0.5)}.",
        "- Attention argmax inside the gold word >= 90% (teacher-forced; 1× / 10×; content-only "
        f"{100 * content['inside']:.1f}% / {100 * content['inside_10x']:.1f}%):",
    ]
    lines += [
        f"  - {LABELS[name]}: {100 * results[name]['inside']:.1f}% / {100 * results[name]['inside_10x']:.1f}%: "
        f"{verdict(results[name]['inside'] >= 0.9)} at 1×, {verdict(results[name]['inside_10x'] >= 0.9)} at 10×."
        for name in LOCATION_ROWS
    ]
    lines.append(
        f"- The pyramidal listener reaches the location-aware model's best validation CER ({threshold:.3f}) in "
        f"fewer minutes: {fmt_minutes(las_minutes)} against {fmt_minutes(location_minutes)} "
        f"(its own best {best['las'][1]:.3f} at minute {best['las'][0]:.1f}): {verdict(faster)}."
    )
    return "\n".join(lines)


FIXED = ("location", "location-concat", "location-concat-all", "location-window")  # the fixes against the plain run
FIXES_SAY = """Longer training utterances do what the diagnosis predicts, up to the lengths they cover: with
half the training utterances 2-4 joined, the 3× test (3-9 words, within the joined lengths of 2-12)
is transcribed with CER {concat[cer_3x]:.3f} (the plain run: {location[cer_3x]:.3f}) and at 10× less weight
leaves the stretch being spelled ({concat_mass:.3f} of it stays, against {location_mass:.3f}), but 10-30 words are
beyond its longest training utterance and it still runs away there (CER {concat[cer_10x]:.3f}; {concat_stop:.0%} of
the utterances stop): it learned a larger margin, not one that holds at any length. Training on
joined utterances only got {all[steps]:,} steps in its {all[minutes]:.0f} minutes at load {all[load]:.1f} and stopped
undertrained (best validation CER {all_best:.3f}), so its row shows little either way. The window in training and
decoding removes the spread ({window_mass:.3f} of the weight on the stretch; {window_stop:.0%} of the 10× utterances
stop) and the transcripts keep their place (prefix CER {window[prefix_cer_10x]:.3f} at 10×); the rest of its CER of
{window[cer_10x]:.3f} is output past the reference's end from the utterances that did not stop: inside the ± 1 s
window the attention can still jump back and loop. Training with the window did no better than
decoding the plain run with it ({decoded[cer_10x]:.3f} at 10×). None of these is location-aware attention holding
at 10× without a window, and none has 90% of its letters' attention in their word at 1× (best
{best_inside:.1%}): those misses are the first letters of words, attended a state or two before the word."""


def fixes(results: dict[str, dict], diagnosed: dict[str, dict]) -> str:
    """The plain location-aware run and its fixes side by side, then :data:`FIXES_SAY` (every number
    from ``results`` and the diagnosis)."""
    lines = []
    for name in FIXED:
        r, run = results[name], diagnosed[name]["runaway"]
        lines.append(
            f"- {LABELS[name]}: CER {r['cer']:.3f} / {r['cer_3x']:.3f} / {r['cer_10x']:.3f} at 1× / 3× / 10× "
            f"(prefix CER {r['prefix_cer_10x']:.3f} at 10×); letters in their word {r['inside']:.3f} / "
            f"{r['inside_10x']:.3f} at 1× / 10×; at 10×, {run['stop']:.0%} of the utterances stopped and "
            f"{run['back']:.0%} jumped back."
        )
    said = FIXES_SAY.format(
        location=results["location"],
        concat=results["location-concat"],
        all=results["location-concat-all"],
        window=results["location-window"],
        decoded=results["location-decoded-window"],
        location_mass=diagnosed["location"]["spread"]["whole"]["mass"],
        concat_mass=diagnosed["location-concat"]["spread"]["whole"]["mass"],
        window_mass=diagnosed["location-window"]["spread"]["whole"]["mass"],
        concat_stop=diagnosed["location-concat"]["runaway"]["stop"],
        window_stop=diagnosed["location-window"]["runaway"]["stop"],
        all_best=min(cer for _, cer in results["location-concat-all"]["curve"]),
        best_inside=max(results[name]["inside"] for name in FIXED),
    )
    return "\n".join(lines) + "\n\n" + said


def ratio(r: dict) -> float:
    """CER at 10× over CER at 1× (inf when the 1× CER is 0 and the 10× one is not)."""
    if r["cer"] == 0:
        return 1.0 if r["cer_10x"] == 0 else float("inf")
    return r["cer_10x"] / r["cer"]


def fmt_minutes(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} min"


def draw(out: Path, path: Path) -> None:
    """Alignments of the first test utterance at 1× and 10× of the :data:`PICTURED` runs."""
    from attnzoo.viz.speech import plot_speech_alignment

    columns = {name: (name, {}) for name in PICTURED}
    panels = []
    for factor in (1, 10):
        for name, (source, changes) in columns.items():
            run = Run(out / source)
            recipe = run.recipe()
            task = run.build_task(recipe)
            (panel,) = recipe.panels(load_model(run, changes), task, task.split("test", factor).take(1))
            title = panel.title.split("\n")[0] + f"\n{LABELS[name]}: {panel.text}"
            panels.append(dataclasses.replace(panel, title=title))
    plot_speech_alignment(panels, path, columns=len(columns))


def report(out: Path, minutes: float, smoke: bool) -> str:
    results_dir = ROOT / "docs" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    results = {name: measure(out / name) for name in RUNS}
    for name, (source, changes) in DECODED.items():
        results[name] = measure(out / source, changes)
    draw(out, results_dir / "speech.png")
    diagnosed = {name: diagnose(out / name) for name in DIAGNOSED}
    threshold = min(cer for _, cer in results["location"]["curve"])
    columns = ("cer", "cer_3x", "cer_10x")
    text = REPORT.format(
        smoke=f" with `--minutes {minutes}` (a smoke run, not the result)." if smoke else ".",
        minutes=minutes,
        torch=torch.__version__,
        python=platform.python_version(),
        cpus=os.cpu_count(),
        runs="\n".join(
            f"| {LABELS[name]} | {r['parameters']:,} | {r['minutes']:.1f} | {r['steps']:,} | {r['utterances']:,} "
            f"| step {r['kept']} "
            f"| {r['load']:.1f} |"
            for name, r in results.items()
            if name in RUNS
        ),
        sharpened=SHARPENED,
        window=WINDOW / 100,
        cer="\n".join(
            f"| {LABELS[name]} | {' | '.join(f'{r[c]:.3f}' for c in columns)} | {ratio(r):.2f} "
            f"| {r['prefix_cer_3x']:.3f} | {r['prefix_cer_10x']:.3f} |"
            for name, r in results.items()
        ),
        inside="\n".join(
            f"| {LABELS[name]} | {r['inside']:.3f} | {r['inside_3x']:.3f} | {r['inside_10x']:.3f} |"
            for name, r in results.items()
        ),
        threshold=threshold,
        times="\n".join(
            f"| {LABELS[name]} | {fmt_minutes(minutes_to(r['curve'], threshold))} "
            f"| {min(r['curve'], key=lambda p: p[1])[1]:.3f} | {min(r['curve'], key=lambda p: p[1])[0]:.1f} |"
            for name, r in results.items()
            if name in RUNS
        ),
        goals=goals(results, threshold),
        diagnosis=speech_diagnosis.section(diagnosed, LABELS, Run(out / "location").config()),
        fixes=fixes(results, diagnosed),
    )
    (results_dir / "speech.md").write_text(text, encoding="utf-8")
    (out / "results.json").write_text(json.dumps(results | {"diagnosis": diagnosed}, indent=2) + "\n")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "speech", help="run directories")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall-clock training minutes per model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=RUNS, nargs="*", help="train only these runs, no report")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.only or RUNS:
        run(name, args.out, args.minutes, args.seed)
    if not args.only:
        print(report(args.out, args.minutes, smoke=args.minutes < 2))


if __name__ == "__main__":
    main()
