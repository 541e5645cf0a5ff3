"""Data for attnzoo's tasks: vocabularies, batching, the dates task, TSV corpora, a length task.

Only torch and Babel are imported here (no Lightning). See :mod:`attnzoo.tasks.text` for the
dataset item and batch conventions shared by every sequence-to-sequence model.

The other tasks are imported as modules, so that ``import attnzoo.tasks`` stays light; each
generator records the ground truth its model's attention is scored against:

- :mod:`~attnzoo.tasks.algorithmic`: copy, repeat copy, associative recall (the NTM)
- :mod:`~attnzoo.tasks.geometry`: sorting, convex hull, TSP with Held-Karp (Pointer Networks)
- :mod:`~attnzoo.tasks.digits`: scikit-learn's digits on canvases, MNIST IDX files (the RAM)
- :mod:`~attnzoo.tasks.scenes`: shapes with boxes and word-object links (Show, Attend and Tell)
- :mod:`~attnzoo.tasks.questions`: scenes with questions, answers, gold objects and keywords (VQA)
- :mod:`~attnzoo.tasks.reviews`, :mod:`~attnzoo.tasks.routing`, :mod:`~attnzoo.tasks.labelled`:
  reviews with gold evidence, feature routing, ``label<TAB>text`` files (HAN, self-attentive)
- :mod:`~attnzoo.tasks.babi`, :mod:`~attnzoo.tasks.cloze`: stories with supporting facts, cloze
  questions about anonymised entities (memory networks, the AS and AoA readers)
- :mod:`~attnzoo.tasks.entailment`: inference pairs with gold word alignments, NLI TSV files
- :mod:`~attnzoo.tasks.news`, :mod:`~attnzoo.tasks.summaries`: news with gold copy positions,
  (article, summary) files (the pointer-generator)
- :mod:`~attnzoo.tasks.reorder`: SVO → SOV sentences with gold word alignments (ConvS2S)
- :mod:`~attnzoo.tasks.mirror`, :mod:`~attnzoo.tasks.digits32`: mirrored images with a rule
  checker, digits at 32×32 (SAGAN)
"""

from attnzoo.tasks.corpus import (
    TRANSDUCTION_LEXICON,
    TRANSDUCTION_SOURCE_WORDS,
    TRANSDUCTION_TARGET_WORDS,
    corpus_data,
    filter_by_length,
    generate_transduction,
    read_parallel_tsv,
    split_pairs,
    transduce,
    transduction_data,
)
from attnzoo.tasks.dates import (
    DATE_FORMATS,
    DATES_LOCALES,
    FIRST_DATE,
    LAST_DATE,
    PIVOT_YEAR,
    date_source,
    date_split,
    date_target,
    dates_data,
    find_ambiguities,
    generate_dates,
    sample_dates,
)
from attnzoo.tasks.text import (
    PairDataset,
    TranslationData,
    collate_pairs,
    decode_target,
    detokenize,
    encode_source,
    encode_target,
    make_pair_dataset,
    make_translation_data,
    tokenize,
)
from attnzoo.tasks.vocab import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPECIALS, UNK, UNK_ID, Vocabulary

__all__ = [
    "BOS",
    "BOS_ID",
    "DATES_LOCALES",
    "DATE_FORMATS",
    "EOS",
    "EOS_ID",
    "FIRST_DATE",
    "LAST_DATE",
    "PAD",
    "PAD_ID",
    "PIVOT_YEAR",
    "SPECIALS",
    "TRANSDUCTION_LEXICON",
    "TRANSDUCTION_SOURCE_WORDS",
    "TRANSDUCTION_TARGET_WORDS",
    "UNK",
    "UNK_ID",
    "PairDataset",
    "TranslationData",
    "Vocabulary",
    "collate_pairs",
    "corpus_data",
    "date_source",
    "date_split",
    "date_target",
    "dates_data",
    "decode_target",
    "detokenize",
    "encode_source",
    "encode_target",
    "filter_by_length",
    "find_ambiguities",
    "generate_dates",
    "generate_transduction",
    "make_pair_dataset",
    "make_translation_data",
    "read_parallel_tsv",
    "sample_dates",
    "split_pairs",
    "tokenize",
    "transduce",
    "transduction_data",
]
