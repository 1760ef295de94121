"""Precision: tp / (tp + fp), the fraction of predictions of a class that are right, per class then averaged.

A self-contained evaluate module (evaluate copies this single file into its modules cache before
importing it) with the inputs and output key of the Hub's ``precision``. Unlike the Hub's, the default
``average`` is "macro" (this package does multiclass classification); callers that pass ``average``
get the same result from either. ``zero_division=0``: a class never predicted (or never present,
for recall) scores 0 instead of raising a warning.
"""

import datasets
import evaluate
from sklearn.metrics import precision_score

_DESCRIPTION = "Precision: tp / (tp + fp), the fraction of predictions of a class that are right."

_CITATION = """\
@article{scikit-learn,
  title={Scikit-learn: Machine Learning in {P}ython},
  author={Pedregosa, F. and others},
  journal={Journal of Machine Learning Research}, volume={12}, pages={2825--2830}, year={2011}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted class indices.
    references (`list` of `int`): ground-truth class indices.
    average (`str` or `None`, default "macro"): "macro" (unweighted mean over classes), "weighted"
        (mean weighted by support), "micro" (from global counts) or None (one score per class).
    labels (`list` of `int`, optional): the classes to score, in this order; default: the sorted
        union of predictions and references. Pass ``range(num_classes)`` to include absent classes.
Returns:
    precision (`float`, or `list` of `float` when average is None).
Examples:
    >>> metric = swin_hub.metrics.load("precision")
    >>> metric.compute(predictions=[0, 1, 2], references=[0, 1, 2])
    {'precision': 1.0}
"""


class Precision(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.precision_score.html"],
        )

    def _compute(self, predictions, references, average="macro", labels=None):
        score = precision_score(references, predictions, average=average, labels=labels, zero_division=0)
        return {"precision": score.tolist() if average is None else float(score)}
