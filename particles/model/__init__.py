"""Geometry and parameters: points on the sphere (:mod:`.sphere`) and the model's parameters
(:mod:`.params`: ``Dynamics``, ``FeedForward``, ``Piecewise``)."""
