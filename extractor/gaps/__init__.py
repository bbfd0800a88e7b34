"""Documentation elements (coding-rules.md §5): which apply to a note, which are missing, the evidence.

``structural_gaps`` reads the elements a rule reads well straight from the extraction (guidance, levels,
laterality, agents, intent, diagnosis). The learned elements come from the classifier in this package.
"""

from .structural import structural_gaps

__all__ = ["structural_gaps"]
