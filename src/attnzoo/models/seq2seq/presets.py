"""The named presets of ``seq2seq``: the papers' models, the corpus recipe and the demo.

``attnzoo models seq2seq`` lists them; ``create_model("seq2seq", preset="luong-general")`` and
``attnzoo train seq2seq --preset luong-general`` use them. A preset overrides the model config
(:class:`~attnzoo.models.seq2seq.model.Seq2SeqConfig`), the translation task settings and the
training settings; the config's ``__post_init__`` resolves what depends on them (Luong's encoder
is one-directional, Bahdanau's bidirectional).
"""

from attnzoo.registry import Preset

CORPUS_SIZES = {"embedding_dim": 128, "hidden_size": 256, "attention_dim": 128, "dropout": 0.2}
CORPUS = {
    "task": {"level": "subword", "vocab_size": 4000},
    "training": {"batch_size": 64, "lr": 2e-3, "steps": 50_000, "minutes": 10, "val_every": 500},
}

PRESETS = {
    "bahdanau": Preset(model={"attention": "bahdanau"}, about="Bahdanau 2015: bi-GRU, additive score"),
    "luong-general": Preset(
        model={"attention": "luong", "score": "general", "rnn": "lstm"}, about="Luong 2015: global, general score"
    ),
    "luong-local-p": Preset(
        model={"attention": "luong", "score": "general", "local": "predictive", "rnn": "lstm"},
        about="Luong 2015: local-p window, general score",
    ),
    "fixed-context": Preset(model={"attention": "none"}, about="Cho 2014: one fixed context, no attention"),
    "corpus-small": Preset(
        model={"attention": "bahdanau", **CORPUS_SIZES},
        **CORPUS,
        about="a real corpus in 10 minutes: Bahdanau, subwords (any language pair)",
    ),
    "corpus-small-luong": Preset(
        model={"attention": "luong", "score": "general", "rnn": "lstm", **CORPUS_SIZES},
        **CORPUS,
        about="a real corpus in 10 minutes: Luong (global, general score), subwords",
    ),
    "demo": Preset(
        model={"attention": "bahdanau"},
        task={"valid_size": 500},
        # 250 steps of 64 at 1.2e-2 (test exact match 100.00 / 99.85 / 99.70% for seeds 0 / 1 / 2) in place of
        # 400 of 128 at 4e-3 (99.95%): about half the time (issue 18); 5 formation snapshots
        training={"steps": 250, "batch_size": 64, "lr": 1.2e-2, "val_every": 50, "checkpoint_every": 250},
        about="attnzoo demo: Bahdanau on dates, 100.00% exact match in 250 steps of 64",
    ),
}
