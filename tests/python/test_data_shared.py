"""Every real format in ../shared/data parsed with auto-detection, counts and spans checked
against shared/data/README.md (skipped when ../shared is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from chronoscale.data import align_items, detect_format, next_event_targets, read_interactions
from chronoscale.datasets import load_otto_sample

pytestmark = pytest.mark.data

# path, format, events, users, items, first day, last day (UTC; None: order only)
CASES = [
    (
        "movielens-1m-sample/sample_movielens_rating.dat.gz",
        "movielens-dat",
        100_000,
        5_958,
        3_312,
        "2000-04-25",
        "2003-02-27",
    ),
    ("movielens-100k/ml-100k.inter.gz", "recbole", 100_000, 943, 1_682, "1997-09-20", "1998-04-22"),
    (
        "movielens-latest-small/ratings.csv.gz",
        "movielens-csv",
        100_836,
        610,
        9_724,
        "1996-03-29",
        "2018-09-24",
    ),
    ("sasrec-video/Video.txt.gz", "pairs", 287_107, 31_013, 23_715, None, None),
    ("s3rec-amazon-yelp/Beauty.txt.gz", "sequence", 198_502, 22_363, 12_101, None, None),
    (
        "s3rec-amazon-yelp/Sports_and_Outdoors.txt.gz",
        "sequence",
        296_337,
        35_598,
        18_357,
        None,
        None,
    ),
    ("s3rec-amazon-yelp/Toys_and_Games.txt.gz", "sequence", 167_597, 19_412, 11_924, None, None),
    ("s3rec-amazon-yelp/Yelp.txt.gz", "sequence", 316_354, 30_431, 20_033, None, None),
    (
        "amazon-grocery-rechorus/train.csv.gz",
        "table",
        121_892,
        14_681,
        8_687,
        "2000-08-09",
        "2014-07-22",
    ),
    (
        "yoochoose-100k/yoochoose-clicks-100k_train_full.txt.gz",
        "session",
        70_278,
        17_794,
        2_933,
        "2014-04-01",
        None,
    ),
    (
        "diginetica-sample/sample_train-item-views.csv.gz",
        "diginetica",
        12_391,
        2_986,
        7_139,
        "2016-01-03",
        "2016-06-01",
    ),
    ("cdnow/CDNOW_master.txt.gz", "cdnow", 69_659, 23_570, 1, "1997-01-01", "1998-06-30"),
    ("otto-sample/train.jsonl", "otto", 862, 20, 510, "2022-07-31", "2022-08-28"),
]


def _day(t) -> str:
    return str(np.datetime64(int(t), "s"))[:10]


@pytest.mark.parametrize("case", CASES, ids=[c[0].split("/")[0] + "/" + c[1] for c in CASES])
def test_shared_file_counts(shared_data, case):
    rel, fmt, n, users, items, first, last = case
    path = shared_data / rel
    assert detect_format(path) == fmt
    x = read_interactions(path, progress=False)
    assert (len(x), x.num_users, x.num_items) == (n, users, items)
    assert x.synthetic_time == (first is None)
    if first is not None:
        assert _day(x.timestamp.min()) == first
    if last is not None:
        assert _day(x.timestamp.max()) == last
    # sorted by (user, time); codes contiguous; ids decode
    assert (np.diff(x.user) >= 0).all()
    same = np.diff(x.user) == 0
    assert (np.diff(x.timestamp)[same] >= 0).all()
    assert x.user.max() == users - 1 and x.item.max() == items - 1
    assert len(x.decode_items(x.item[:3])) == 3


def test_movielens_100k_ratings(shared_data):
    x = read_interactions(shared_data / "movielens-100k/ml-100k.inter.gz")
    assert (
        np.bincount(x.value.astype(int)).tolist()[1:]
        == np.bincount(x.value.astype(int))[1:].tolist()
    )
    assert set(np.unique(x.value).tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert x.counts.min() >= 20  # ML-100K: every user rated at least 20 movies


def test_yoochoose_parts_add_up(shared_data):
    d = shared_data / "yoochoose-100k"
    full = read_interactions(d / "yoochoose-clicks-100k_train_full.txt.gz")
    tr = read_interactions(d / "yoochoose-clicks-100k_train_tr.txt.gz")
    va = read_interactions(d / "yoochoose-clicks-100k_train_valid.txt.gz")
    te = read_interactions(d / "yoochoose-clicks-100k_test.txt.gz")
    # README says full = tr + valid; in the files tr + valid is 485 rows short of full (valid
    # sessions are filtered); both are session subsets of full and disjoint from each other
    assert len(tr) + len(va) <= len(full) and len(te) == 13_568
    assert np.isin(tr.user_ids, full.user_ids).all() and np.isin(va.user_ids, full.user_ids).all()
    assert len(np.intersect1d(tr.user_ids, va.user_ids)) == 0
    assert te.timestamp.min() >= full.timestamp.max() - 86400  # test follows train
    # session-rec kept only test items seen in training, and sessions of 2+ clicks
    aligned = align_items(te, full)
    assert aligned.meta["unknown_items_dropped"] == 0 and aligned.counts.min() >= 2
    assert len(next_event_targets(aligned)) == len(te) - te.num_users


def test_cdnow_total_spend(shared_data):
    x = read_interactions(shared_data / "cdnow/CDNOW_master.txt.gz")
    assert round(float(x.value.astype(np.float64).sum()), 2) == 2_500_315.63
    assert x.extra["number_of_cds"].min() >= 1


def test_open_bandit_files(shared_data):
    files = sorted((shared_data / "open-bandit-dataset-sample").glob("*/*/*.csv.gz"))
    assert len(files) == 6
    for f in [f for f in files if f.name == "all.csv.gz"]:  # the men/women files: same format
        x = read_interactions(f)
        assert len(x) == 10_000 and 34 <= x.num_items <= 80
        assert 38 <= int(x.value.sum()) <= 69  # clicks per file
        assert _day(x.timestamp.min()) >= "2019-11-24" and _day(x.timestamp.max()) <= "2019-11-30"
        assert set(np.unique(x.extra["position"]).tolist()) <= {1, 2, 3}


def test_otto_matches_builtin_sample(shared_data):
    x = read_interactions(shared_data / "otto-sample/train.jsonl")
    y = load_otto_sample()
    assert np.array_equal(x.item_ids[x.item], y.item_ids[y.item])
    assert np.array_equal(x.timestamp, y.timestamp) and np.array_equal(x.value, y.value)
    assert np.bincount(x.value.astype(int)).tolist() == [800, 52, 10]
