"""What a trained classifier can see: logistic regression on powers and products of the normal scores."""

from __future__ import annotations

import numpy as np

from gaussgan.stats.constants import ALPHA
from gaussgan.stats.metrics.base import Metric, Score

# Samples the classifier looks at, at most: beyond these its cost grows faster than its use.
CLASSIFIER_SAMPLES = 20_000
# Pairwise products of the classifier's quadratic features: all of them up to this dimension,
# the products of as many random projections above it.
QUADRATIC_COMPONENTS = 16


class Classifier(Metric):
    """Logistic regression (scikit-learn) on polynomial features of the normal scores, trained on the first
    half of the generated and of fresh parent samples; the accuracy on the other halves.

    Null: given the trained model, every held-out point is labelled 1 with the same probability q
    whichever its source, so the count of correct labels is Binomial(m, q) + Binomial(m, 1 - q): mean m,
    and by Hoeffding's theorem (1956) upper tails no heavier than Binomial(2m, 1/2)'s, which the
    p-value uses (exact at q = 1/2, conservative otherwise). Every held-out point counts, where a coin
    that kept one of each pair would lose half of them.
    """

    short = "classifier"

    name, label, null, costly = "classifier", "classifier accuracy (logistic, 4th powers)", "analytic", True
    cap = CLASSIFIER_SAMPLES
    least = 4  # two of each class to train on

    def score(self, x, context):
        from scipy import stats
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        half = len(x) // 2
        fresh = context.parent.sample(2 * half, context.rng("classifier"))
        labels = np.r_[np.ones(half), np.zeros(half)]
        train = self.features(np.vstack([x[:half], fresh[:half]]), context)
        held_out = self.features(np.vstack([x[half : 2 * half], fresh[half:]]), context)
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(train, labels)
        correct = int(np.sum(model.predict(held_out) == labels))
        p = float(stats.binom.sf(correct - 1, 2 * half, 0.5))
        return Score(correct / (2 * half), p, f"{correct} of {2 * half} held-out samples told apart")

    def features(self, x, context):
        """Powers 1 to 4 of each normal score, products of pairs (of 16 fixed mixtures above 16
        components) and the squared squared norm.

        With the right mean and covariance, every feature of degree 1 or 2 has the same mean for both
        classes, and a linear classifier on them sees nothing: the cubes (skew), the fourth powers
        (a bimodal or heavy-tailed component) and ||z||⁴ (a spread of norms) give it something to see.
        """
        z = np.clip(context.parent.normal_scores(x), -10, 10)
        if z.shape[1] > QUADRATIC_COMPONENTS:
            u = context.cached(
                "classifier directions",
                lambda: context.rng("classifier directions").standard_normal((z.shape[1], QUADRATIC_COMPONENTS)),
            )
            mixed = z @ (u / np.linalg.norm(u, axis=0))
        else:
            mixed = z
        rows, cols = np.triu_indices(mixed.shape[1], 1)
        squares = z * z
        norms = squares.sum(axis=1, keepdims=True)
        return np.hstack([z, squares, squares * z, squares * squares, mixed[:, rows] * mixed[:, cols], norms * norms])

    def floor(self, parent, n):
        from scipy import stats

        # The accuracy that 5% of honest samples exceed: above it, and only above it, p <= 5%.
        tested = n // 2 * 2
        return float(stats.binom.isf(ALPHA, tested, 0.5) / tested)
