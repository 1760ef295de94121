"""Multiclass one-vs-rest ROC AUC from (N, C) class probabilities.

A self-contained evaluate module (evaluate copies this single file into its modules cache before
importing it) with the inputs and output key of the Hub's ``roc_auc`` in its "multiclass"
configuration (``evaluate.load("roc_auc", "multiclass")``, ``multi_class="ovr"``); this module
only does multiclass one-vs-rest.

Classes absent from the references: the one-vs-rest AUC of a class with no positive sample is
undefined; scikit-learn's multiclass ``roc_auc_score`` then returns nan (given ``labels``) or raises.
We instead average the AUC over the classes present in the references, each class against all other
samples, ranked by its own score column unchanged: "macro" is their unweighted mean, "weighted"
weights each by its support (the same as weighting all C classes, absent ones having weight 0).
With every class present this is exactly ``roc_auc_score(..., multi_class="ovr")``. The columns are
NOT renormalised over the present classes: one-vs-rest ranks samples by one column, and dividing
rows by different sums would change that ranking. With a single class present it has no negative
sample either, and ``roc_auc`` is None. ``roc_auc_classes`` lists the classes averaged over.
"""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import roc_auc_score

_DESCRIPTION = "Multiclass one-vs-rest ROC AUC, averaged over the classes present in the references."

_CITATION = """\
@article{scikit-learn,
  title={Scikit-learn: Machine Learning in {P}ython},
  author={Pedregosa, F. and others},
  journal={Journal of Machine Learning Research}, volume={12}, pages={2825--2830}, year={2011}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    prediction_scores (`list` of `list` of `float`): (N, C) class probabilities.
    references (`list` of `int`): ground-truth class indices in range(C).
    average (`str`, default "macro"): "macro" or "weighted" (by support).
Returns:
    roc_auc (`float`, or None when fewer than two classes are present in the references).
    roc_auc_classes (`list` of `int`): the classes present in the references, which the AUC averages over.
Examples:
    >>> metric = swin_hub.metrics.load("roc_auc")
    >>> metric.compute(prediction_scores=[[0.6, 0.3, 0.1], [0.7, 0.2, 0.1], [0.2, 0.7, 0.1]], references=[0, 1, 1])
    {'roc_auc': 0.5, 'roc_auc_classes': [0, 1]}
"""


class RocAuc(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"prediction_scores": datasets.Sequence(datasets.Value("float64")), "references": datasets.Value("int32")}
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.roc_auc_score.html"],
        )

    def _compute(self, prediction_scores, references, average="macro"):
        if average not in ("macro", "weighted"):
            raise ValueError(f"average must be 'macro' or 'weighted', got {average!r}")
        scores, references = np.asarray(prediction_scores, dtype=np.float64), np.asarray(references)
        present = np.unique(references)
        if len(present) < 2:
            return {"roc_auc": None, "roc_auc_classes": present.tolist()}
        one_vs_rest = references[:, None] == present[None, :]  # (N, P) indicator, one column per present class
        auc = roc_auc_score(one_vs_rest, scores[:, present], average=average)
        return {"roc_auc": float(auc), "roc_auc_classes": present.tolist()}
