"""The dates task: a date as people write it → the same date in ISO 8601 (``YYYY-MM-DD``).

Sources come from the CLDR date patterns that Babel ships, in the 20 locales of
:data:`DATES_LOCALES` (Latin, Cyrillic, Japanese, Chinese and Korean scripts) and all four CLDR
lengths ``short``, ``medium``, ``long``, ``full``::

    Dienstag, 3. März 2015       → 2015-03-03    (de_DE, full)
    3 марта 2015 г.              → 2015-03-03    (ru_RU, long)
    2015年3月3日火曜日            → 2015-03-03    (ja_JP, full)
    en_US: 3/3/15                → 2015-03-03    (en_US, short)
    en_GB: 03/03/2015            → 2015-03-03    (en_GB, short)

Two things would make the task ambiguous, and so unlearnable past some accuracy; both are
removed by construction (``tests/tasks/test_dates.py`` checks that no source has two targets):

- **Day/month order.** ``3/4/15`` is 4 March in en_US and 3 April in en_GB. A source written only
  in digits, spaces and punctuation (no letter of any script) is prefixed with its locale and a
  colon, ``"en_US: 3/4/15"``, as a reader would need to be told. Dates with a month name, or with
  CJK / Cyrillic markers such as 年月日 or ``г.``, carry no prefix: their script and words fix the order.
- **Two-digit years.** Dates are drawn from 1950-01-01 to 2049-12-31 only, so ``yy`` is
  unambiguous under the pivot window that strptime (POSIX ``%y``) and CLDR parsers use:
  ``yy`` 50..99 → 19yy, 00..49 → 20yy. (Over 1900–2099 a model tops out near 95%.)

Spacing: CLDR writes a narrow no-break space (U+202F) before ``г.`` / ``р.`` and in some times;
it and the no-break space (U+00A0) are replaced by a plain space, as people type them.

Splits are disjoint **by date**: every calendar date in the range belongs to exactly one split,
by a hash of its ISO string (80% train, 10% valid, 10% test), whatever the seed, so no test date
is ever seen in training, in any locale or format. The seed only chooses which
(date, locale, format) combinations a split draws, without repetition.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterable
from functools import cache
from typing import Literal

from babel import Locale
from babel.dates import format_date

from attnzoo.tasks.text import TranslationData, make_translation_data

Split = Literal["train", "valid", "test"]
SPLITS: tuple[str, ...] = ("train", "valid", "test")

DATES_LOCALES: tuple[str, ...] = (
    "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "sv_SE", "pl_PL",
    "cs_CZ", "tr_TR", "fi_FI", "ru_RU", "uk_UA", "bg_BG", "ja_JP", "zh_CN", "ko_KR", "vi_VN",
)  # fmt: skip
DATE_FORMATS: tuple[str, ...] = ("short", "medium", "long", "full")

FIRST_DATE = dt.date(1950, 1, 1)
LAST_DATE = dt.date(2049, 12, 31)
PIVOT_YEAR = 50  # two-digit year yy: yy >= 50 → 19yy, yy < 50 → 20yy

# Share of calendar dates in each split, in percent of the hash (train, valid, test).
SPLIT_PERCENT = {"train": 80, "valid": 10, "test": 10}

_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2009": " "})


@cache
def _locale(name: str) -> Locale:
    return Locale.parse(name)


def date_split(date: dt.date) -> Split:
    """The split a calendar date belongs to (fixed: a hash of its ISO string, not the seed)."""
    bucket = int.from_bytes(hashlib.sha256(date.isoformat().encode("ascii")).digest()[:8], "big") % 100
    if bucket < SPLIT_PERCENT["train"]:
        return "train"
    if bucket < SPLIT_PERCENT["train"] + SPLIT_PERCENT["valid"]:
        return "valid"
    return "test"


@cache
def split_dates(split: Split) -> tuple[dt.date, ...]:
    """All dates of ``split`` in the range, in calendar order."""
    _check_split(split)
    days = (LAST_DATE - FIRST_DATE).days + 1
    dates = (FIRST_DATE + dt.timedelta(days=i) for i in range(days))
    return tuple(d for d in dates if date_split(d) == split)


def date_source(date: dt.date, locale: str, format: str) -> str:
    """``date`` as written in ``locale`` with the CLDR pattern ``format`` (short|medium|long|full).

    Digit-only renderings get a ``"<locale>: "`` prefix (see the module doc).
    """
    if format not in DATE_FORMATS:
        raise ValueError(f"format must be one of {DATE_FORMATS}, got {format!r}")
    text = format_date(date, format, locale=_locale(locale)).translate(_SPACES)
    if not any(ch.isalpha() for ch in text):
        text = f"{locale}: {text}"
    return text


def date_target(date: dt.date) -> str:
    """ISO 8601 calendar date, ``YYYY-MM-DD``."""
    return date.isoformat()


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")


def sample_dates(split: Split, size: int, seed: int = 0) -> list[tuple[dt.date, str, str]]:
    """The ``(date, locale, format)`` combinations :func:`generate_dates` renders, in its order.

    ``size`` distinct combinations drawn uniformly from the split's dates × :data:`DATES_LOCALES`
    × :data:`DATE_FORMATS`, the same for the same (split, size, seed).
    """
    _check_split(split)
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    dates = split_dates(split)
    n_locales, n_formats = len(DATES_LOCALES), len(DATE_FORMATS)
    combinations = len(dates) * n_locales * n_formats
    if size > combinations:
        raise ValueError(f"{split} has only {combinations} distinct (date, locale, format) combinations, asked {size}")
    rng = random.Random(f"attnzoo.dates:{seed}:{split}")
    specs = []
    for index in rng.sample(range(combinations), size):
        date_index, rest = divmod(index, n_locales * n_formats)
        locale_index, format_index = divmod(rest, n_formats)
        specs.append((dates[date_index], DATES_LOCALES[locale_index], DATE_FORMATS[format_index]))
    return specs


def generate_dates(split: Split, size: int, seed: int = 0) -> list[tuple[str, str]]:
    """``size`` (source, ISO target) pairs of ``split``, the same for the same (split, size, seed).

    Each pair renders a distinct (date, locale, format) combination (:func:`sample_dates`);
    different splits never share a date, whatever their seeds.
    """
    return [
        (date_source(date, locale, format), date_target(date))
        for date, locale, format in sample_dates(split, size, seed)
    ]


def dates_data(
    train_size: int = 20_000, valid_size: int = 1_000, test_size: int = 2_000, seed: int = 0
) -> TranslationData:
    """The dates task at character level: vocabularies from the training pairs, three datasets."""
    return make_translation_data(
        generate_dates("train", train_size, seed),
        generate_dates("valid", valid_size, seed),
        generate_dates("test", test_size, seed),
        level="char",
    )


def find_ambiguities(dates: Iterable[dt.date] | None = None) -> list[tuple[str, str, str]]:
    """``(source, one target, another target)`` for every source that two of ``dates`` share.

    Renders each date in every locale and format; ``None`` means the whole range (2.9 million
    renderings, about a minute). The task is learnable to 100% only if this is empty: it is, and
    ``python -m attnzoo.tasks.dates`` checks it again.
    """
    if dates is None:
        days = (LAST_DATE - FIRST_DATE).days + 1
        dates = (FIRST_DATE + dt.timedelta(days=i) for i in range(days))
    target_of: dict[str, str] = {}
    clashes = []
    for date in dates:
        target = date_target(date)
        for locale in DATES_LOCALES:
            for format in DATE_FORMATS:
                source = date_source(date, locale, format)
                first = target_of.setdefault(source, target)
                if first != target:
                    clashes.append((source, first, target))
    return clashes


if __name__ == "__main__":
    found = find_ambiguities()
    for source, first, second in found[:20]:
        print(f"{source!r}: {first} and {second}")
    print(f"{len(found)} ambiguous sources over {FIRST_DATE}..{LAST_DATE}, {len(DATES_LOCALES)} locales")
    raise SystemExit(1 if found else 0)
