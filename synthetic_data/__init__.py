"""Generated data for the sandbox, the demo, the experiment and the tests (a development tool, not shipped)."""
