"""The gap classifier: one calibrated scikit-learn Pipeline per documentation element, at sentence level.

A note documents an element when its best sentence does (the maximum of the sentence probabilities); that
sentence is the gap's evidence. Artifacts are saved with skops and loaded with an explicit list of trusted
types: anything else in the file is refused.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import numpy as np
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from ..atomic import atomic_path
from .elements import ELEMENT_IDS
from .features import SentenceRow
from .model_types import ElementFinding, NoteFindings  # noqa: F401
from .transformers import RowFeatures, RowText

from .paths import MODEL_DIR, MODEL_NAME, MODEL_VERSION, skops_path  # noqa: F401

# Every type the bundled artifact may contain. skops refuses to load anything outside this list.
TRUSTED_TYPES = [
    "builtins.dict", "builtins.list", "builtins.str", "builtins.float", "builtins.int", "builtins.tuple",
    "numpy.ndarray", "numpy.dtype", "numpy.float64", "numpy.int64", "numpy.int32", "numpy.bool_",
    "scipy.sparse._csr.csr_matrix", "scipy.sparse._csr.csr_array",
    "sklearn.pipeline.Pipeline", "sklearn.pipeline.FeatureUnion",
    "sklearn.feature_extraction.text.TfidfVectorizer", "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction._dict_vectorizer.DictVectorizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.calibration.CalibratedClassifierCV", "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.preprocessing._label.LabelEncoder",
    "extractor.gaps.transformers.RowFeatures", "extractor.gaps.transformers.RowText",
]



def make_features() -> FeatureUnion:
    """Sentence -> features, shared by every element (fitted once: the features do not depend on labels)."""
    text_words = Pipeline([("text", RowText()), ("tfidf", TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, max_features=4000, sublinear_tf=True))])
    text_chars = Pipeline([("text", RowText()), ("tfidf", TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), min_df=2, max_features=6000, sublinear_tf=True))])
    return FeatureUnion([("words", text_words), ("chars", text_chars), ("pipeline", RowFeatures())])


def make_classifier(seed: int) -> CalibratedClassifierCV:
    return CalibratedClassifierCV(
        LogisticRegression(C=4.0, class_weight="balanced", max_iter=5000, random_state=seed),
        method="sigmoid", cv=3)


def element_pipeline(features: FeatureUnion, classifier) -> Pipeline:
    """The sentence-level Pipeline of one element (its steps already fitted)."""
    return Pipeline([("features", features), ("classifier", classifier)])


class GapModel(NoteFindings):
    """One shared feature union, a calibrated classifier per element, and the note-level thresholds chosen
    on the dev split. ``pipeline(element)`` is that element's scikit-learn Pipeline."""

    def __init__(self, features: FeatureUnion, classifiers: dict, thresholds: dict[str, float], meta: dict):
        self.features = features
        self.classifiers = classifiers
        self.thresholds = thresholds
        self.meta = meta
        self._linear = {e: _linear_form(c) for e, c in classifiers.items()}

    @property
    def version(self) -> str:
        return self.meta.get("version", MODEL_VERSION)

    def pipeline(self, element: str) -> Pipeline:
        return element_pipeline(self.features, self.classifiers[element])

    def sentence_probabilities(self, rows: list[SentenceRow], elements: list[str] | None = None) -> dict:
        elements = elements or list(self.classifiers)
        if not rows:
            return {e: np.zeros(0) for e in elements}
        X = self.features.transform(rows)  # once for all elements
        return {e: _linear_proba(self._linear[e], X) for e in elements}

    @property
    def element_ids(self) -> list[str]:
        return list(self.classifiers)


def _linear_form(calibrated: CalibratedClassifierCV) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The calibrated logistic regressions as arrays: per fold k, weights w_k, intercept c_k and the sigmoid
    calibration (a_k, b_k). p = mean_k expit(-(a_k (X w_k + c_k) + b_k)) is exactly what
    CalibratedClassifierCV.predict_proba computes for a binary task, without its per-call validation
    overhead (tens of milliseconds per note for seven elements)."""
    folds = calibrated.calibrated_classifiers_
    W = np.column_stack([f.estimator.coef_.ravel() for f in folds])
    c = np.array([f.estimator.intercept_[0] for f in folds])
    a = np.array([f.calibrators[0].a_ for f in folds])
    b = np.array([f.calibrators[0].b_ for f in folds])
    return W, c, a, b


def _linear_proba(form, X) -> np.ndarray:
    W, c, a, b = form
    decision = np.asarray(X @ W) + c
    return expit(-(a * decision + b)).mean(axis=1)


def save(model: GapModel, path: Path) -> None:
    import skops.io as sio

    # the vectorizers keep every pruned term in stop_words_, only for introspection: drop it (sklearn
    # documents this as safe), which keeps the artifact small
    for _name, step in model.features.transformer_list:
        if isinstance(step, Pipeline):
            tfidf = step.named_steps["tfidf"]
            if hasattr(tfidf, "stop_words_"):
                delattr(tfidf, "stop_words_")
            # numpy ints in the vocabulary would become one array file each in the archive
            tfidf.vocabulary_ = {term: int(i) for term, i in tfidf.vocabulary_.items()}
    with atomic_path(path) as tmp:
        sio.dump({"features": model.features, "classifiers": model.classifiers, "thresholds": model.thresholds,
                  "meta": model.meta}, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=9)


def load(path: Path | None = None) -> GapModel:
    """Load an artifact, refusing any type not in TRUSTED_TYPES."""
    import skops.io as sio

    path = Path(path) if path else skops_path()
    found = sio.get_untrusted_types(file=path)
    untrusted = [t for t in found if t not in TRUSTED_TYPES]
    if untrusted:
        raise ValueError(f"{path.name}: refusing to load untrusted types {untrusted}")
    data = sio.load(path, trusted=found)
    return GapModel(data["features"], data["classifiers"], data["thresholds"], data["meta"])


def today() -> str:
    return dt.date.today().isoformat()


__all__ = ["ELEMENT_IDS", "GapModel", "ElementFinding", "make_features", "make_classifier", "save", "load",
           "TRUSTED_TYPES"]
