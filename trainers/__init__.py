"""Built-in trainers of geobench (installed as geobench.trainers)."""
