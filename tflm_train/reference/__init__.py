"""numpy semantics of every forward and training operator: the executable spec."""
