"""The app's stacks: each wires constructs for one part of an environment."""
