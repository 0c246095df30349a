"""One GAN run: options, models, update rules, schedules, training, the run directory, sampling, evaluation."""
