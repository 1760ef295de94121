"""Top-k accuracy: the fraction of samples whose reference is among the k highest-scored classes.

A self-contained evaluate module (evaluate copies this single file into its modules cache before
importing it). Inputs are named like the Hub's score-based metrics (``prediction_scores``,
``references``). Scores are (N, C); the classes are ``range(C)``, so references need not contain
every class. k >= C is trivially 1.0 and is answered without calling scikit-learn (which would warn
and, for C = 2, reject the 2-D scores). For C = 2 and k = 1 scikit-learn wants 1-D binary scores and
raises: use ``accuracy`` on the argmax instead.
"""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import top_k_accuracy_score

_DESCRIPTION = "Top-k accuracy: a sample counts as correct if its reference is among its k best-scored classes."

_CITATION = """\
@article{scikit-learn,
  title={Scikit-learn: Machine Learning in {P}ython},
  author={Pedregosa, F. and others},
  journal={Journal of Machine Learning Research}, volume={12}, pages={2825--2830}, year={2011}
}
"""

_KWARGS_DESCRIPTION = """
Args:
    prediction_scores (`list` of `list` of `float`): (N, C) scores, logits or probabilities.
    references (`list` of `int`): ground-truth class indices in range(C).
    k (`int`, default 5): how many of the best-scored classes count.
Returns:
    top_k_accuracy (`float`): in [0, 1].
Examples:
    >>> metric = swin_hub.metrics.load("top_k_accuracy")
    >>> metric.compute(prediction_scores=[[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]], references=[1, 2], k=2)
    {'top_k_accuracy': 0.5}
"""


class TopKAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"prediction_scores": datasets.Sequence(datasets.Value("float64")), "references": datasets.Value("int32")}
            ),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.top_k_accuracy_score.html"],
        )

    def _compute(self, prediction_scores, references, k=5):
        scores = np.asarray(prediction_scores, dtype=np.float64)
        num_classes = scores.shape[1]
        if k >= num_classes:
            return {"top_k_accuracy": 1.0}
        return {"top_k_accuracy": float(top_k_accuracy_score(references, scores, k=k, labels=range(num_classes)))}
