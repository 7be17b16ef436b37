"""The jury de délibération: its composition per session, its result changes, its
closing (which locks the results), and the diploma's other units (issue 14, §4).

This package holds the state only (models and the guarded state changes); the pages,
which read the results module, live in ``exam_app.results`` above it."""
