"""RNN encoder-decoder with a fixed context (Cho 2014), Bahdanau (2015) or Luong (2015) attention."""

from attnzoo.models.seq2seq.model import Seq2Seq, Seq2SeqConfig, Seq2SeqOutput

__all__ = ["Seq2Seq", "Seq2SeqConfig", "Seq2SeqOutput"]
