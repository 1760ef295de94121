"""Confusion matrix: entry [i][j] counts samples of reference class i predicted as class j.

A self-contained evaluate module (evaluate copies this single file into its modules cache before
importing it) with the inputs and output key of the Hub's ``confusion_matrix``. The matrix is
returned as a list of lists of int (JSON-serialisable) rather than a numpy array.
"""

import datasets
import evaluate
from sklearn.metrics import confusion_matrix

_DESCRIPTION = "Confusion matrix: rows are reference classes, columns are predicted classes."

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
    labels (`list` of `int`, optional): the classes indexing rows and columns, in this order;
        default: the sorted union of predictions and references. Pass ``range(num_classes)`` to get
        rows and columns of zeros for classes that never occur.
Returns:
    confusion_matrix (`list` of `list` of `int`).
Examples:
    >>> metric = swin_hub.metrics.load("confusion_matrix")
    >>> metric.compute(predictions=[0, 1, 1], references=[0, 1, 0], labels=[0, 1, 2])
    {'confusion_matrix': [[1, 1, 0], [0, 1, 0], [0, 0, 0]]}
"""


class ConfusionMatrix(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.confusion_matrix.html"],
        )

    def _compute(self, predictions, references, labels=None):
        return {"confusion_matrix": confusion_matrix(references, predictions, labels=labels).tolist()}
