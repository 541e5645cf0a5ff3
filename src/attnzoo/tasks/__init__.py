"""Data for attnzoo's tasks: vocabularies, batching, the dates task, TSV corpora, a length task.

Only torch and Babel are imported here (no Lightning). See :mod:`attnzoo.tasks.text` for the
dataset item and batch conventions shared by every sequence-to-sequence model.

The other tasks are imported as modules, so that ``import attnzoo.tasks`` stays light:
:mod:`attnzoo.tasks.algorithmic` (copy, repeat copy, associative recall: the NTM),
:mod:`attnzoo.tasks.geometry` (sorting, convex hull, TSP with Held-Karp: Pointer Networks) and
:mod:`attnzoo.tasks.digits` (scikit-learn's digits on canvases, MNIST IDX files: the RAM),
:mod:`attnzoo.tasks.reviews` (generated reviews with gold evidence: HAN), :mod:`attnzoo.tasks.routing`
(feature routing: multi-dimensional attention), :mod:`attnzoo.tasks.labelled` (``label<TAB>text`` files),
:mod:`attnzoo.tasks.babi` (bAbI-style stories with supporting facts: memory networks) and
:mod:`attnzoo.tasks.cloze` (cloze questions about anonymised entities: the AS and AoA readers).
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
