"""Batch input and output, all streaming: ``readers`` turn files into NoteInput records (or error records),
``writers`` write results, errors, claim lines, Parquet and the summary. Neither imports spaCy."""
