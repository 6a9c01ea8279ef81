"""scikit-learn's side of bench/anomaly.sh: on the ODDS cardio data, fit
plus score of every row per detector (defaults: IsolationForest 100 trees
of 256 samples, OneClassSVM nu=0.5 gamma='scale', LocalOutlierFactor 20
neighbours), and the score of one event against the fitted model. Best of
REPEATS runs each; prints `detector<TAB>fit+score ms<TAB>one event us`.

    anomaly_sklearn.py CSV [REPEATS]
"""
import sys
import time

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import OneClassSVM

path = sys.argv[1]
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
X = np.loadtxt(path, delimiter=",", skiprows=1)[:, :-1]
event = X[:1] + 0.05


def best(f, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


fit_score = {
    "iforest": lambda: IsolationForest(random_state=0).fit(X).score_samples(X),
    "ocsvm": lambda: OneClassSVM().fit(X).decision_function(X),
    "lof": lambda: LocalOutlierFactor().fit(X).negative_outlier_factor_,
}
fitted = {
    "iforest": IsolationForest(random_state=0).fit(X),
    "ocsvm": OneClassSVM().fit(X),
    "lof": LocalOutlierFactor(novelty=True).fit(X),
}
for name, f in fit_score.items():
    whole = best(f, repeats)
    one = best(lambda: fitted[name].score_samples(event), 200)
    print(f"{name}\t{whole * 1e3:.2f}\t{one * 1e6:.1f}")
