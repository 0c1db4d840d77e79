"""Finding duplicates and benchmark contamination in a run, and the record readers honour."""
