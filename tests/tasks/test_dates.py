import datetime as dt
import random
import re

import pytest

import attnzoo.tasks.dates as dates_module
from attnzoo.tasks import (
    DATE_FORMATS,
    DATES_LOCALES,
    FIRST_DATE,
    LAST_DATE,
    date_source,
    date_split,
    dates_data,
    find_ambiguities,
    generate_dates,
    sample_dates,
)


def test_deterministic_and_seed_dependent():
    assert generate_dates("train", 300, seed=0) == generate_dates("train", 300, seed=0)
    assert generate_dates("train", 300, seed=0) != generate_dates("train", 300, seed=1)
    assert generate_dates("test", 300, seed=0) != generate_dates("valid", 300, seed=0)


def test_splits_disjoint_by_date():
    targets = {split: {t for _, t in generate_dates(split, 3000, seed=3)} for split in ("train", "valid", "test")}
    assert not targets["train"] & targets["test"]
    assert not targets["train"] & targets["valid"]
    assert not targets["valid"] & targets["test"]
    # The split of a date does not depend on the seed.
    other_seed = {t for _, t in generate_dates("test", 3000, seed=4)}
    assert not other_seed & targets["train"]
    for target in targets["test"]:
        assert date_split(dt.date.fromisoformat(target)) == "test"


def test_targets_are_the_iso_date():
    for source, target in generate_dates("valid", 500, seed=1):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", target)
        date = dt.date.fromisoformat(target)
        assert FIRST_DATE <= date <= LAST_DATE
        assert source in {date_source(date, loc, fmt) for loc in DATES_LOCALES for fmt in DATE_FORMATS}


def test_locales_formats_and_scripts():
    assert len(DATES_LOCALES) >= 20
    assert set(DATE_FORMATS) == {"short", "medium", "long", "full"}
    date = dt.date(2015, 3, 3)
    assert date_source(date, "de_DE", "full") == "Dienstag, 3. März 2015"
    assert date_source(date, "en_US", "short") == "en_US: 3/3/15"
    assert date_source(date, "en_GB", "short") == "en_GB: 03/03/2015"
    assert date_source(date, "ru_RU", "long") == "3 марта 2015 г."  # U+202F replaced by a space
    sources = [s for s, _ in generate_dates("train", 4000, seed=0)]
    text = "".join(sources)
    assert re.search("[а-яА-Я]", text), "no Cyrillic"
    assert re.search("[\u4e00-\u9fff]", text), "no CJK ideographs"
    assert re.search("[\uac00-\ud7af]", text), "no Hangul"
    assert "\u202f" not in text and "\xa0" not in text
    prefixes = {s.split(":")[0] for s in sources if re.match(r"[a-z]{2}_[A-Z]{2}: ", s)}
    assert len(prefixes) >= 15  # digit-only dates of most locales
    # Every locale and every format is drawn, and the pairs are those draws rendered.
    specs = sample_dates("train", 4000, seed=0)
    assert {loc for _, loc, _ in specs} == set(DATES_LOCALES)
    assert {fmt for _, _, fmt in specs} == set(DATE_FORMATS)
    assert len(set(specs)) == len(specs)
    assert sources[:50] == [date_source(*spec) for spec in specs[:50]]
    assert max(len(s) for s in sources) <= 45


def test_no_source_has_two_targets_on_a_sample():
    # The whole range (2.9 M renderings) is checked in ~70 s by `python -m attnzoo.tasks.dates`; here, 400 random dates
    # plus the dates where day <= 12 (the d/m vs m/d cases) of a few years, incl. 1950 / 2049.
    rng = random.Random(0)
    days = (LAST_DATE - FIRST_DATE).days
    dates = {FIRST_DATE + dt.timedelta(days=rng.randrange(days + 1)) for _ in range(400)}
    for year in (1950, 1999, 2000, 2012, 2049):
        dates |= {dt.date(year, m, d) for m in range(1, 13) for d in range(1, 13)}
    assert find_ambiguities(sorted(dates)) == []


def test_ambiguity_checker_sees_day_month_order_without_the_prefix(monkeypatch):
    # Negative control: without the locale prefix, "3/4/12" is 4 March (en_US) and 3 April (es_ES).
    render = dates_module.date_source
    monkeypatch.setattr(dates_module, "date_source", lambda d, loc, fmt: render(d, loc, fmt).split(": ", 1)[-1])
    clashes = find_ambiguities([dt.date(2012, 3, 4), dt.date(2012, 4, 3)])
    assert ("3/4/12", "2012-03-04", "2012-04-03") in clashes


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        generate_dates("dev", 10)
    with pytest.raises(ValueError, match="combinations"):
        generate_dates("test", 10**9)


def test_dates_data_is_character_level():
    data = dates_data(train_size=500, valid_size=50, test_size=50, seed=0)
    assert len(data.train) == 500 and len(data.test) == 50 and data.level == "char"
    assert set(data.target_vocab.tokens[4:]) == set("0123456789-")
    source, target = data.test.pairs[0]
    assert data.decode_target(data.test[0][1]) == target
