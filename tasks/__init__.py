"""Built-in tasks of geobench (installed as geobench.tasks)."""
