"""A SageMaker script-mode scikit-learn training script, as written for SageMaker (unchanged)."""

import argparse
import glob
import os

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier

if __name__ == "__main__":
    parser = argparse.ArgumentParser()

    # Hyperparameters sent by the client are passed as command-line arguments to the script.
    parser.add_argument("--n-estimators", type=int, default=10)
    parser.add_argument("--min-samples-leaf", type=int, default=3)

    # Data, model, and output directories
    parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))

    args, _ = parser.parse_known_args()

    files = glob.glob(os.path.join(args.train, "*.csv"))
    data = np.concatenate([np.loadtxt(f, delimiter=",", skiprows=1) for f in files])
    X, y = data[:, :-1], data[:, -1]

    model = RandomForestClassifier(
        n_estimators=args.n_estimators, min_samples_leaf=args.min_samples_leaf, random_state=0
    )
    model.fit(X, y)
    print(f"train_accuracy={model.score(X, y):.4f}")

    path = os.path.join(args.model_dir, "model.joblib")
    joblib.dump(model, path)
    print("model saved at " + path)
