"""The verdict's constants, one home each. No imports: command lines read them for --help and checks."""

# The family-wise error rate of a verdict, and the level of each diagnostic test.
ALPHA = 0.05
# Honest samples drawn for each simulated null, by default and at the fewest: with fewer than the
# minimum, the smallest Monte Carlo p-value, 1 / (repeats + 1), cannot pass the first step of the weighted
# Holm correction, where a simulated metric's share of ALPHA can be as small as 1/12 of it (a Gaussian
# parent: the mean and covariance tests weigh 3, the six others 1), so it could never reject on its own.
NULL_REPEATS = 300
MIN_NULL_REPEATS = 250
# What runs recorded before --null-repeats existed were judged with.
NULL_REPEATS_BEFORE_OPTION = 200
# The largest sample size a verdict tests, by default.
MAX_N = 100_000
# The fewest samples a verdict is given on: below it no metric has power worth a sentence. Also the
# smallest --max-n, which caps the samples a verdict looks at.
MIN_SAMPLES = 100
