"""Real pretrained Transformers in numpy, layer by layer (SPEC Part D)."""
