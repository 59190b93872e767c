"""Code shared by OpenForge's Lambda handlers, shipped once as a layer."""
