"""The forgetting experiment's generated curriculum (``dataset``)."""
