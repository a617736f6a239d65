"""Evaluation metrics: hand-computed top-k and confusion matrices, edge cases, rank-summable state, predictions file."""
from __future__ import annotations

import json

import pytest
import torch

from tubelet.engine.metrics import ConfusionMatrix, topk_correct, write_predictions


def scores_from_rankings(rankings: list[list[int]], num_classes: int) -> torch.Tensor:
    """(N, K) scores whose descending order per row is the given ranking (classes not listed score lowest)."""
    scores = torch.zeros(len(rankings), num_classes)
    for i, ranking in enumerate(rankings):
        for rank, c in enumerate(ranking):
            scores[i, c] = num_classes - rank
    return scores


# K = 6; the label sits at rank 1, 2, 6 and 5 of its row.
SCORES = scores_from_rankings([[2, 0, 1, 3, 4, 5], [0, 3, 1, 2, 4, 5], [0, 1, 2, 3, 4, 5], [1, 2, 3, 0, 4, 5]], 6)
LABELS = torch.tensor([2, 3, 5, 4])


def test_topk_correct_hand_computed():
    assert topk_correct(SCORES, LABELS) == [1, 3]
    assert topk_correct(SCORES, LABELS, ks=(1, 2, 5, 6)) == [1, 2, 3, 4]
    assert topk_correct(SCORES, LABELS, ks=(10, 1)) == [4, 1]  # k clipped to K, order of ks kept
    with pytest.raises(ValueError, match="k must be >= 1"):
        topk_correct(SCORES, LABELS, ks=(0,))


def test_confusion_matrix_entries_and_summary():
    cm = ConfusionMatrix(6)
    cm.update(SCORES[:2], LABELS[:2])
    cm.update(SCORES[2:], LABELS[2:])
    expected = torch.zeros(6, 6, dtype=torch.long)
    for t, p in [(2, 2), (3, 0), (5, 0), (4, 1)]:  # (true, top-1 predicted)
        expected[t, p] += 1
    assert cm.matrix.dtype == torch.int64 and torch.equal(cm.matrix, expected)
    s = cm.summary()
    assert s["num_samples"] == 4
    assert s["top1"] == pytest.approx(25.0) and s["top5"] == pytest.approx(75.0)
    assert s["mean_class_accuracy"] == pytest.approx(25.0)  # classes 2..5 present, recalls 1, 0, 0, 0


def test_mean_class_accuracy_differs_from_top1_on_imbalanced_set():
    cm = ConfusionMatrix(3)  # class 2 has no samples: left out of the mean
    cm.update(torch.zeros(10, dtype=torch.long), torch.tensor([0] * 8 + [1] * 2))
    s = cm.summary()
    assert s["top1"] == pytest.approx(80.0)
    assert s["mean_class_accuracy"] == pytest.approx(50.0)
    assert s["top5"] is None  # predictions carry no top-5
    rows = cm.per_class(["a", "b", "c"])
    assert rows[0] == {"index": 0, "name": "a", "support": 8, "correct": 8, "predicted": 10, "recall": 100.0,
                       "precision": 80.0}
    assert (rows[1]["recall"], rows[1]["precision"]) == (0.0, None)
    assert (rows[2]["support"], rows[2]["recall"]) == (0, None)


def test_fewer_than_five_classes_top5_is_topk():
    scores = scores_from_rankings([[1, 0, 2], [2, 1, 0], [0, 1, 2]], 3)
    labels = torch.tensor([0, 0, 0])
    assert topk_correct(scores, labels) == [1, 3]
    cm = ConfusionMatrix(3)
    cm.update(scores, labels)
    assert cm.summary()["top1"] == pytest.approx(100 / 3) and cm.summary()["top5"] == pytest.approx(100.0)
    single = ConfusionMatrix(1)
    single.update(torch.randn(4, 1), torch.zeros(4, dtype=torch.long))
    assert single.summary()["top1"] == single.summary()["top5"] == 100.0


def test_tied_scores_never_give_a_top1_hit_outside_top5():
    cm = ConfusionMatrix(10)
    labels = torch.arange(10)
    cm.update(torch.zeros(10, 10), labels)
    assert int(cm.matrix.trace()) <= int(cm.top5_correct)


def test_empty_input():
    assert topk_correct(torch.empty(0, 7), torch.empty(0, dtype=torch.long)) == [0, 0]
    cm = ConfusionMatrix(7)
    cm.update(torch.empty(0, 7), torch.empty(0, dtype=torch.long))
    cm.update(torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long))
    assert cm.summary() == {"num_samples": 0, "top1": None, "top5": None, "mean_class_accuracy": None}
    assert all(r["recall"] is None and r["precision"] is None for r in cm.per_class())
    assert "0 videos" in cm.report()


@pytest.mark.parametrize("bad", [[0, 3], [-1, 0]])
def test_out_of_range_labels_raise(bad):
    labels = torch.tensor(bad)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        topk_correct(torch.randn(2, 3), labels)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        ConfusionMatrix(3).update(torch.randn(2, 3), labels)
    with pytest.raises(ValueError, match=r"predictions must lie in \[0, 3\)"):
        ConfusionMatrix(3).update(labels, torch.tensor([0, 1]))


def test_bad_shapes_and_dtypes_raise():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="rows but there are"):
        cm.update(torch.randn(2, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="classes"):
        cm.update(torch.randn(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="integer"):
        cm.update(torch.randn(2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="class names"):
        cm.per_class(["a", "b"])


def test_summed_states_equal_one_pass_over_concatenated_data():
    g = torch.Generator().manual_seed(0)
    scores, labels = torch.randn(50, 8, generator=g), torch.randint(0, 8, (50,), generator=g)
    whole, a, b = ConfusionMatrix(8), ConfusionMatrix(8), ConfusionMatrix(8)
    whole.update(scores, labels)
    a.update(scores[:17], labels[:17])
    b.update(scores[17:30], labels[17:30])
    b.update(scores[30:], labels[30:])
    for ta, tb in zip(a.tensors(), b.tensors()):  # what all_reduce(SUM) does across two ranks
        ta += tb
    assert all(torch.equal(x, y) for x, y in zip(a.tensors(), whole.tensors()))
    assert a.summary() == whole.summary()
    top1, top5 = topk_correct(scores, labels)
    assert whole.summary()["top1"] == pytest.approx(100 * top1 / 50)
    assert whole.summary()["top5"] == pytest.approx(100 * top5 / 50)

    restored = ConfusionMatrix(8)
    restored.load_state(whole.state())
    assert restored.summary() == whole.summary()
    restored.reset()
    assert restored.summary()["num_samples"] == 0
    with pytest.raises(ValueError, match="matrix"):
        ConfusionMatrix(9).load_state(whole.state())


def test_report_table():
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor([0, 0, 1, 1, 0]), torch.tensor([0, 0, 1, 2, 2]))
    names = ["abseiling", "a very long class name that goes on and on and on", "zumba"]
    text = cm.report(names)
    lines = text.splitlines()
    assert lines[0].split() == ["idx", "class", "support", "correct", "recall", "precision"]
    assert len({len(line) for line in lines[:4]}) == 1  # fixed width
    assert lines[1].split() == ["0", "abseiling", "2", "2", "100.0", "66.7"]
    assert "..." in lines[2] and lines[3].split()[-2:] == ["0.0", "-"]
    assert "5 videos" in lines[4] and "top-1 60.00" in lines[4] and "top-5 -" in lines[4]
    assert lines[5] == f"lowest recall: zumba 0.0, abseiling 100.0, {names[1]} 100.0"
    short = cm.report(max_rows=1, worst=0).splitlines()
    assert short[1].split()[:2] == ["0", "0"] and "2 more classes" in short[2] and len(short) == 4


def test_write_predictions_round_trip(tmp_path):
    names = [f"class {i}" for i in range(6)]
    probs = SCORES.softmax(dim=1)
    path = write_predictions(tmp_path / "sub" / "predictions.jsonl", ["a.mp4", tmp_path / "b.mp4", "c", "d"],
                             LABELS, probs, class_names=names, topk=3)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 4
    first = records[0]
    assert (first["video"], first["label"], first["label_name"], first["correct"]) == ("a.mp4", 2, "class 2", True)
    assert [p["label"] for p in first["predictions"]] == [2, 0, 1]
    assert [p["name"] for p in first["predictions"]] == ["class 2", "class 0", "class 1"]
    assert first["predictions"][0]["score"] == pytest.approx(float(probs[0, 2]), abs=1e-6)
    assert records[1]["video"] == str(tmp_path / "b.mp4") and records[1]["correct"] is False

    unnamed = write_predictions(tmp_path / "p.jsonl", ["x"], torch.tensor([1]), torch.tensor([[0.2, 0.8]]))
    record = json.loads(unnamed.read_text())
    assert record["label_name"] is None and len(record["predictions"]) == 2  # topk 5 clipped to K = 2
    with pytest.raises(ValueError, match="videos"):
        write_predictions(tmp_path / "q.jsonl", ["x", "y"], torch.tensor([1]), torch.tensor([[0.2, 0.8]]))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        write_predictions(tmp_path / "q.jsonl", ["x"], torch.tensor([2]), torch.tensor([[0.2, 0.8]]))
