"""Extensions: the failures file, and run-level services."""
