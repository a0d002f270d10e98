"""Train a classifier on scikit-learn's bundled iris data and save it."""

import os
from pathlib import Path

import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

if __name__ == "__main__":
    data_dir = Path(os.environ.get("BODYWORK_DATA_DIR", "data"))
    data_dir.mkdir(parents=True, exist_ok=True)
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    joblib.dump(model, data_dir / "model.joblib")
    print(f"trained on {len(labels)} rows")
