"""Running models on a device: numeric precision, distributed processes, model inputs (images or cached maps)."""
