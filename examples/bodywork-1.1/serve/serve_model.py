"""A Flask prediction service, started the Bodywork way (the module runs its own server)."""

import os
import sys
from pathlib import Path

import joblib
from flask import Flask, jsonify, request

app = Flask(__name__)
model = joblib.load(Path(os.environ.get("BODYWORK_DATA_DIR", "data")) / "model.joblib")


@app.route("/iris/v1/score", methods=["POST"])
def score():
    features = request.get_json()["features"]
    return jsonify({"label": int(model.predict([features])[0])})


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
