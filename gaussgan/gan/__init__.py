"""One GAN run: options, models, update rules, schedules, training, the run directory, checkpoints, sampling,
and judging its samples (per-epoch metrics, the verdict)."""
