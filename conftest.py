"""Makes the repository root importable (`import pipeline`) for the test suite."""
