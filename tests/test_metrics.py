"""swin_hub.metrics: the local evaluate modules agree with scikit-learn, load offline, and
classification_metrics returns JSON-ready values.

evaluate writes module copies under its caches; they are redirected to a tmp dir. Its config is read
at import and the copies are imported as ``evaluate_modules.*`` through sys.path, so the fixture
patches the config, puts the tmp cache first on sys.path and forgets any ``evaluate_modules`` already
imported. The subprocess test checks the real thing: HF_HOME and HF_HUB_OFFLINE set before import.
"""

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import evaluate
import huggingface_hub
import numpy as np
import pytest
from sklearn import metrics as skm

from swin_hub import metrics

REPO = Path(__file__).resolve().parents[1]
CASES = [(seed, c, missing) for seed in (0, 1, 2) for c in (3, 10) for missing in (None, 1)]


@pytest.fixture(scope="module", autouse=True)
def evaluate_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evaluate.config, "HF_MODULES_CACHE", root / "modules")
        mp.setattr(evaluate.config, "HF_METRICS_CACHE", root / "metrics")
        mp.setattr(evaluate.config, "DOWNLOADED_EVALUATE_PATH", root / "evaluate/downloads")
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        mp.syspath_prepend(str(root / "modules"))
        for name in [m for m in sys.modules if m.split(".")[0] == "evaluate_modules"]:
            mp.delitem(sys.modules, name)
        metrics._metric.cache_clear()
        yield root
        metrics._metric.cache_clear()


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_case(seed, num_classes, missing=None, n=200):
    """(logits, references): noisy logits with some signal; class ``missing`` never referenced."""
    rng = np.random.default_rng(seed)
    refs = rng.integers(0, num_classes, n)
    if missing is not None:
        refs[refs == missing] = (missing + 1) % num_classes
    logits = rng.normal(size=(n, num_classes)) + 1.5 * np.eye(num_classes)[refs]
    return logits, refs


def present_class_auc(refs, probs, average):
    """Reference for roc_auc: per-class binary AUC over the classes present, (support-weighted) mean."""
    present = np.unique(refs)
    aucs = [skm.roc_auc_score(refs == c, probs[:, c]) for c in present]
    weights = [np.sum(refs == c) for c in present] if average == "weighted" else None
    return np.average(aucs, weights=weights)


def test_local_modules_load_by_path():
    for name in metrics.LOCAL_METRICS:
        module = metrics.load(name)
        assert isinstance(module, evaluate.Metric) and module.name == name
        assert (metrics.METRICS_DIR / name / f"{name}.py").is_file()


@pytest.mark.parametrize("seed,num_classes,missing", CASES)
def test_modules_match_sklearn(seed, num_classes, missing):
    logits, refs = make_case(seed, num_classes, missing)
    probs, preds = softmax(logits), logits.argmax(axis=1)
    labels = list(range(num_classes))
    assert metrics.load("accuracy").compute(predictions=preds, references=refs)["accuracy"] == pytest.approx(
        skm.accuracy_score(refs, preds)
    )
    for k in (1, 2):
        got = metrics.load("top_k_accuracy").compute(prediction_scores=logits, references=refs, k=k)
        assert got["top_k_accuracy"] == pytest.approx(skm.top_k_accuracy_score(refs, logits, k=k, labels=labels))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        module = metrics.load(name)
        for average in ("macro", "weighted", "micro", None):
            got = module.compute(predictions=preds, references=refs, average=average, labels=labels)[name]
            want = fn(refs, preds, average=average, labels=labels, zero_division=0)
            np.testing.assert_allclose(got, want, err_msg=f"{name} {average}")
        default = module.compute(predictions=preds, references=refs)[name]  # average="macro", labels=None
        assert default == pytest.approx(fn(refs, preds, average="macro", zero_division=0))
    cm = metrics.load("confusion_matrix").compute(predictions=preds, references=refs, labels=labels)
    assert cm["confusion_matrix"] == skm.confusion_matrix(refs, preds, labels=labels).tolist()
    for average in ("macro", "weighted"):
        got = metrics.load("roc_auc").compute(prediction_scores=probs, references=refs, average=average)
        assert got["roc_auc_classes"] == np.unique(refs).tolist()
        assert got["roc_auc"] == pytest.approx(present_class_auc(refs, probs, average))
        if missing is None:  # all classes present: exactly sklearn's multiclass one-vs-rest
            want = skm.roc_auc_score(refs, probs, multi_class="ovr", average=average, labels=labels)
            assert got["roc_auc"] == pytest.approx(want)


@pytest.mark.parametrize("num_classes", [3, 10])
def test_perfect_predictions(num_classes):
    refs = np.arange(50) % num_classes
    scores = 10.0 * np.eye(num_classes)[refs]
    pred_ref = {"predictions": scores.argmax(axis=1), "references": refs}
    assert metrics.load("accuracy").compute(**pred_ref)["accuracy"] == 1.0
    for name in ("precision", "recall", "f1"):
        assert metrics.load(name).compute(**pred_ref, average="macro")[name] == 1.0
    top1 = metrics.load("top_k_accuracy").compute(prediction_scores=scores, references=refs, k=1)
    assert top1["top_k_accuracy"] == 1.0
    assert metrics.load("roc_auc").compute(prediction_scores=softmax(scores), references=refs)["roc_auc"] == 1.0
    cm = metrics.load("confusion_matrix").compute(**pred_ref)["confusion_matrix"]
    assert cm == np.diag(np.bincount(refs)).tolist()


def test_top_k_at_least_num_classes_is_one_without_warning():
    logits, refs = make_case(0, 3)
    module = metrics.load("top_k_accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for k in (3, 4, 8):
            assert module.compute(prediction_scores=logits, references=refs, k=k)["top_k_accuracy"] == 1.0
    assert module.compute(prediction_scores=logits, references=refs, k=2)["top_k_accuracy"] < 1.0


def test_roc_auc_undefined_with_one_class():
    logits, _ = make_case(0, 4)
    refs = np.full(len(logits), 2)
    got = metrics.load("roc_auc").compute(prediction_scores=softmax(logits), references=refs)
    assert got == {"roc_auc": None, "roc_auc_classes": [2]}
    with pytest.raises(ValueError, match="average"):
        metrics.load("roc_auc").compute(prediction_scores=softmax(logits), references=refs, average="micro")


def test_confusion_matrix_includes_empty_classes():
    preds, refs = np.array([0, 2, 2, 0, 2]), np.array([0, 2, 0, 0, 2])
    got = metrics.load("confusion_matrix").compute(predictions=preds, references=refs, labels=[0, 1, 2, 3])
    cm = np.array(got["confusion_matrix"])
    assert cm.shape == (4, 4) and cm[[1, 3]].sum() == 0 and cm[:, [1, 3]].sum() == 0
    assert cm.tolist() == skm.confusion_matrix(refs, preds, labels=[0, 1, 2, 3]).tolist()


@pytest.mark.parametrize("seed,num_classes,missing", CASES)
def test_classification_metrics(seed, num_classes, missing):
    logits, refs = make_case(seed, num_classes, missing)
    probs, preds, labels = softmax(logits), logits.argmax(axis=1), list(range(num_classes))
    names = [f"class_{c}" for c in labels]
    out = metrics.classification_metrics(logits, refs, class_names=names)
    assert json.loads(json.dumps(out)) == out
    stats = ("accuracy", "top5_accuracy", "precision_macro", "recall_macro", "f1_macro", "precision_weighted",
             "recall_weighted", "f1_weighted", "roc_auc", "confusion_matrix", "per_class", "samples")
    assert set(out) == {f"eval_{s}" for s in stats}
    assert out["eval_samples"] == len(refs)
    assert out["eval_accuracy"] == pytest.approx(skm.accuracy_score(refs, preds))
    want_top = skm.top_k_accuracy_score(refs, logits, k=5, labels=labels) if num_classes > 5 else 1.0
    assert out["eval_top5_accuracy"] == pytest.approx(want_top)
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score)):
        for average in ("macro", "weighted"):
            want = fn(refs, preds, average=average, labels=labels, zero_division=0)
            assert out[f"eval_{name}_{average}"] == pytest.approx(want)
        per_class = fn(refs, preds, average=None, labels=labels, zero_division=0)
        np.testing.assert_allclose([out["eval_per_class"][n][name] for n in names], per_class)
    assert [out["eval_per_class"][n]["support"] for n in names] == np.bincount(refs, minlength=num_classes).tolist()
    assert out["eval_roc_auc"] == pytest.approx(present_class_auc(refs, probs, "macro"))
    assert out["eval_confusion_matrix"] == skm.confusion_matrix(refs, preds, labels=labels).tolist()
    if missing is not None:
        assert out["eval_per_class"][names[missing]]["support"] == 0
        assert sum(out["eval_confusion_matrix"][missing]) == 0
    # probabilities are used as they are, logits get a softmax: both give the same result
    from_probs = metrics.classification_metrics(probs, refs, class_names=names)
    assert from_probs.pop("eval_roc_auc") == pytest.approx(out.pop("eval_roc_auc"))
    assert from_probs == out


def test_classification_metrics_single_class_and_defaults():
    logits, _ = make_case(3, 4, n=20)
    logits[:, 3] -= 100.0  # class 3 is neither referenced nor predicted
    out = metrics.classification_metrics(logits, np.zeros(20, dtype=int), prefix="")
    assert out["roc_auc"] is None and json.loads(json.dumps(out)) == out
    assert list(out["per_class"]) == ["0", "1", "2", "3"]
    assert out["per_class"]["3"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert np.shape(out["confusion_matrix"]) == (4, 4) and out["confusion_matrix"][3] == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="class names"):
        metrics.classification_metrics(logits, np.zeros(20, dtype=int), class_names=["a", "b"])
    with pytest.raises(ValueError, match="range"):
        metrics.classification_metrics(logits, np.full(20, 4))


def test_unknown_metric_offline_raises_clear_error():
    with pytest.raises(ValueError, match=r"Unknown metric 'not-a-metric'.*offline"):
        metrics.load("not-a-metric")


def test_hub_name_falls_back_to_evaluate_cache(evaluate_cache):
    """A Hub name goes to evaluate.load; offline, evaluate serves a previously downloaded copy."""
    cached = evaluate_cache / "modules/evaluate_modules/metrics/evaluate-metric--hub_accuracy" / ("0" * 64)
    cached.mkdir(parents=True)
    shutil.copy(metrics.METRICS_DIR / "accuracy/accuracy.py", cached / "hub_accuracy.py")
    got = metrics.load("hub_accuracy").compute(predictions=[0, 1, 1], references=[0, 1, 0])
    assert got["accuracy"] == pytest.approx(2 / 3)


def test_offline_in_fresh_process(tmp_path):
    """HF_HUB_OFFLINE=1 set before import: everything loads with no HTTP request; files land in HF_HOME/modules."""
    script = (
        "import json, numpy as np, requests\n"
        "def no_network(*args, **kwargs):\n    raise RuntimeError('HTTP request while offline')\n"
        "requests.Session.request = no_network\n"
        "from swin_hub import metrics\n"
        "rng = np.random.default_rng(0)\n"
        "out = metrics.classification_metrics(rng.normal(size=(60, 4)), rng.integers(0, 4, 60))\n"
        "try:\n    metrics.load('not-a-metric')\nexcept ValueError as err:\n    out['error'] = str(err)\n"
        "print(json.dumps(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "XDG_CACHE"))}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    rng = np.random.default_rng(0)
    logits, refs = rng.normal(size=(60, 4)), rng.integers(0, 4, 60)
    assert out["eval_accuracy"] == pytest.approx(skm.accuracy_score(refs, logits.argmax(axis=1)))
    assert "not-a-metric" in out["error"]
    # files: the module copies; evaluate also makes empty dirs metrics/<name>/default and evaluate/downloads
    files = {p.relative_to(tmp_path / "hf").parts[0] for p in (tmp_path / "hf").rglob("*") if p.is_file()}
    assert files == {"modules"}
    cached = {p.name for p in (tmp_path / "hf/modules/evaluate_modules/metrics").iterdir() if p.is_dir()}
    assert cached == set(metrics.LOCAL_METRICS)
