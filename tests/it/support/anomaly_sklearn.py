"""scikit-learn's detectors with their defaults on the files our CLI scored.

    anomaly_sklearn.py TRAIN INPUT SCORES_DIR

TRAIN and INPUT are CSV files (header, numbers, a `label` column of 0/1 in
INPUT); SCORES_DIR holds our `anomaly score --json` output as DETECTOR.json.
Prints one JSON object: per detector, the ROC-AUC of our scores and of
scikit-learn's (higher = more anomalous for both) and the rows scikit-learn
predicts as outliers.
"""
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import OneClassSVM


def load(path):
    header = Path(path).read_text().splitlines()[0].split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    label = header.index("label")
    return np.delete(data, label, axis=1), data[:, label]


train_file, input_file, scores_dir = sys.argv[1:4]
X, _ = load(train_file)
Z, y = load(input_file)
same = train_file == input_file

detectors = {
    "iforest": IsolationForest(random_state=0).fit(X),
    "ocsvm": OneClassSVM().fit(X),
    "lof": LocalOutlierFactor(novelty=not same).fit(X),
}
out = {}
for name, model in detectors.items():
    if name == "lof" and same:
        theirs = -model.negative_outlier_factor_
        outliers = model.negative_outlier_factor_ < model.offset_
    else:
        theirs = -model.decision_function(Z)
        outliers = model.predict(Z) == -1
    ours = json.loads((Path(scores_dir) / f"{name}.json").read_text())["scores"]
    out[name] = {
        "auc_ours": roc_auc_score(y, ours),
        "auc_sklearn": roc_auc_score(y, theirs),
        "outliers": [int(i) for i in np.flatnonzero(outliers)],
    }
print(json.dumps(out))
