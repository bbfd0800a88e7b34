"""scikit-learn adapters for SentenceRow (training and the skops artifact; inference uses compiled.py)."""

from __future__ import annotations

from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction import DictVectorizer


class RowFeatures(BaseEstimator, TransformerMixin):
    """SentenceRow -> sparse vector of the pipeline features (the text n-grams are a sibling step)."""

    def __init__(self):
        self.vectorizer = DictVectorizer()

    def fit(self, rows, y=None):
        self.vectorizer.fit([r.features() for r in rows])
        return self

    def transform(self, rows):
        return self.vectorizer.transform([r.features() for r in rows])


class RowText(BaseEstimator, TransformerMixin):
    """SentenceRow -> its text, for the n-gram vectorizers."""

    def fit(self, rows, y=None):
        return self

    def transform(self, rows):
        return [r.text for r in rows]
