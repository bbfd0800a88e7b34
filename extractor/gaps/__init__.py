"""Documentation elements (coding-rules.md §5): which apply to a note, which are missing, the evidence.

- ``elements.py``   the elements, their messages and physician queries, and which apply to a note;
- ``structural.py`` gaps a rule reads straight from the extraction (guidance, levels, sides, agents, intent);
- ``features.py``   sentence features (words + what the spaCy pipeline found + a duration rule);
- ``model.py``      the calibrated scikit-learn classifiers, skops save/load with trusted types;
- ``train.py``      training, thresholds, evaluation and the model card;
- ``detect.py``     the gaps of one note.
"""

from .structural import structural_gaps

__all__ = ["structural_gaps"]
