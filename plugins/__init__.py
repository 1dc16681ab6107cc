"""Built-in plugins of geobench (installed as geobench.plugins)."""
