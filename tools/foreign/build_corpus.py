"""Build tests/data/foreign: model files other tools wrote, with where each came from.

    python tools/foreign/build_corpus.py --mirrors /work/.mirror --old-envs /tmp/oldsk

- PMML documents are copied from public repositories (snapshots fetched with the workplace's
  ``fetch``; pass the folder holding them) under permissive licences;
- ONNX graphs are written with skl2onnx's and onnxmltools' defaults (tools/foreign/write_onnx.py),
  here and in each ``--old-envs`` virtual environment that has an older skl2onnx;
- pickles, joblib and skops files are written by older scikit-learn versions, one virtual
  environment each (tools/foreign/write_old_pickles.py).

The manifest records each file's source, producer and licence, and what modelpack does with
it: ``scores`` (the suite compares it with the file's own runtime) or ``refused`` with the
reason, checked by the suite to be the runtime's own refusal too.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "foreign"

# (repository, commit, licence, path in the repository, name in the corpus)
PMML_SOURCES = [
    ("AmadeusITGroup/cPMML", "2cd19f9b86779a18f7fb63707c47574125bd374a", "MIT", "benchmark/data/model", [
        ("AuditBinaryReg.xml", "rattle-audit-logistic.xml"),
        ("AuditTree.xml", "rattle-audit-rpart.xml"),
        ("IrisLinearReg.xml", "rattle-iris-linear.xml"),
        ("IrisMultinomReg.xml", "rattle-iris-multinom.xml"),
        ("IrisTree.xml", "rattle-iris-rpart.xml"),
        ("IrisRandomForest.xml", "rattle-iris-randomforest.xml"),
        ("single_iris_dectree.xml", "knime-iris-tree.xml"),
        ("ensemble_iris_dectree.xml", "knime-iris-tree-ensemble.xml"),
        ("single_audit_dectree.xml", "knime-audit-tree.xml"),
        ("ensemble_audit_dectree.xml", "knime-audit-tree-ensemble.xml"),
        ("HousingLRClassifier.xml", "jpmml-sklearn-housing-logistic.xml"),
        ("HousingLinearRegressor_PCA.xml", "jpmml-sklearn-housing-pca-linear.xml"),
        ("HousingGBTlassifier.xml", "jpmml-sklearn-housing-gbt-classifier.xml"),
    ]),
    ("iamDecode/sklearn-pmml-model", "13d992034c29847aa6ed3e377c0eaa5b3366d7cd", "BSD-2-Clause", "models", [
        ("gb-gbm-cat-pima.pmml", "jpmml-r-gbm-pima.pmml"),
        ("gb-gbm-cat-pima-regression.pmml", "jpmml-r-gbm-pima-regression.pmml"),
        ("gb-xgboost-iris.pmml", "jpmml-r-xgboost-iris.pmml"),
        ("linear-model-lmc.pmml", "jpmml-r-glm-classifier.pmml"),
        ("svc-cat-pima.pmml", "jpmml-r-svm-pima.pmml"),
        ("svr-cat-pima.pmml", "jpmml-r-svr-pima.pmml"),
        ("tree-cat-pima-regression.pmml", "jpmml-r-rpart-regression.pmml"),
        ("rf-cat-pima-regression.pmml", "jpmml-r-randomforest-regression.pmml"),
        ("knn-clf-pima.pmml", "r-pmml-knn-classifier.pmml"),
        ("knn-reg-pima.pmml", "r-pmml-knn-regressor.pmml"),
        ("linear-model-glm.pmml", "r-pmml-glm.pmml"),
        ("linear-model-lasso.pmml", "r-pmml-lasso.pmml"),
        ("linear-model-lm.pmml", "r-pmml-lm.pmml"),
        ("linear-model-ridgec.pmml", "r-pmml-ridge-classifier.pmml"),
        ("nb-cat-pima.pmml", "r-pmml-naive-bayes.pmml"),
        ("nn-iris.pmml", "r-pmml-nnet-iris.pmml"),
        ("rf-cat-pima.pmml", "rattle-randomforest-pima.pmml"),
        ("tree-cat-pima.pmml", "rattle-rpart-pima.pmml"),
        ("tree-cat.pmml", "rattle-rpart-categorical.pmml"),
        ("nn-pima-regression.pmml", "sklearn2pmml-mlp-regression.pmml"),
        ("tree-iris.pmml", "jpmml-sklearn-tree-iris.pmml"),
    ]),
    ("autodeployai/pmml4s", "0c30fdbfb3c9ab9f8c1fb03e0f34080dc318d01c", "Apache-2.0", "src/test/resources/models", [
        ("anomaly/dmg_anomaly_iforest.xml", "dmg-anomaly-iforest.xml"),
        ("association/dmg_association_rule_association.xml", "dmg-association-rules.xml"),
        ("cluster/dmg_clustering_center_based.xml", "dmg-clustering.xml"),
        ("general/dmg_general_generalLinear.xml", "dmg-general-linear.xml"),
        ("general/dmg_general_multinomial_logistic.xml", "dmg-general-multinomial.xml"),
        ("general/dmg_general_ordinal_multinomial.xml", "dmg-general-ordinal.xml"),
        ("general/dmg_general_cox.xml", "dmg-general-cox.xml"),
        ("knn/dmg_knn_categorical_predictor_categorical_target.xml", "dmg-knn-categorical.xml"),
        ("mining/dmg_majority_vote_mining.xml", "dmg-mining-majority-vote.xml"),
        ("mining/dmg_model_chain_mining.xml", "dmg-mining-model-chain.xml"),
        ("mining/dmg_model_selection_mining.xml", "dmg-mining-model-selection.xml"),
        ("mining/dmg_weighted_average_mining.xml", "dmg-mining-weighted-average.xml"),
        ("mining/dmg_weighted_majority_vote_mining.xml", "dmg-mining-weighted-majority-vote.xml"),
        ("naive/dmg_naive_bayes.xml", "dmg-naive-bayes.xml"),
        ("neural/dmg_neural_normal.xml", "dmg-neural-network.xml"),
        ("regression/dmg_regression_interaction.xml", "dmg-regression-interaction.xml"),
        ("regression/dmg_regression_linear.xml", "dmg-regression-linear.xml"),
        ("regression/dmg_regression_logistic.xml", "dmg-regression-logistic.xml"),
        ("regression/dmg_regression_multi_classes.xml", "dmg-regression-multiclass.xml"),
        ("rule/dmg_rule_compound.xml", "dmg-ruleset-compound.xml"),
        ("scorecard/dmg_scorecard_example.xml", "dmg-scorecard.xml"),
        ("svm/dmg_svm_classification_cat_predictors.xml", "dmg-svm-categorical.xml"),
        ("svm/dmg_svm_classification_cont_predictors.xml", "dmg-svm-continuous.xml"),
        ("tree/dmg_tree_normal.xml", "dmg-tree.xml"),
        ("tree/dmg_tree_missing_value_strategies.xml", "dmg-tree-missing-values.xml"),
        ("tree/sas_3.1_iris_tree.xml", "sas-9.2-iris-tree.xml"),
    ]),
]


def copy_pmml(mirrors: Path) -> list[dict]:
    entries = []
    folder = CORPUS / "pmml"
    folder.mkdir(parents=True, exist_ok=True)
    for repo, commit, licence, base, files in PMML_SOURCES:
        git = mirrors / repo.replace("/", "+") / "repo"
        for source, name in files:
            path = f"{base}/{source}" if not source.startswith(base) else source
            data = subprocess.run(["git", "-C", str(git), "show", f"{commit}:{path}"], check=True,
                                  capture_output=True).stdout
            (folder / name).write_bytes(data)
            entries.append({"file": f"pmml/{name}", "source": f"https://github.com/{repo}/blob/{commit}/{path}",
                            "licence": licence})
    return entries


def write_generated(old_envs: Path | None) -> list[dict]:
    entries = []
    onnx = CORPUS / "onnx"
    pickles = CORPUS / "pickles"
    for folder in (onnx, pickles):
        folder.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).parent
    runs = [(sys.executable, "write_onnx.py", onnx, ["--all"])]
    for env in sorted(old_envs.iterdir()) if old_envs else []:
        python = env / "bin" / "python"
        if python.exists():
            runs.append((str(python), "write_old_pickles.py", pickles, []))
            if subprocess.run([str(python), "-c", "import skl2onnx"], capture_output=True).returncode == 0:
                runs.append((str(python), "write_onnx.py", onnx, []))
    for python, script, folder, extra in runs:
        done = subprocess.run([python, str(here / script), str(folder), *extra], check=True, capture_output=True,
                              text=True)
        report = json.loads(done.stdout.strip().splitlines()[-1])
        for stem in report["written"]:
            for model in sorted(folder.glob(f"{stem}.*")):
                if model.suffix in (".onnx", ".pkl", ".sav", ".skops"):
                    entries.append({"file": f"{folder.name}/{model.name}",
                                    "source": f"written by tools/foreign/{script} with {_versions(report)}",
                                    "licence": "Apache-2.0 (this repository)"})
    return entries


def write_verified_pmml() -> list[dict]:
    """A PMML document carrying its own ModelVerification rows, as sklearn2pmml writes it when asked."""
    import sklearn2pmml
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier
    from sklearn2pmml import sklearn2pmml as write
    from sklearn2pmml.pipeline import PMMLPipeline

    X, y = load_iris(return_X_y=True, as_frame=True)
    pipeline = PMMLPipeline([("tree", DecisionTreeClassifier(max_depth=3, random_state=0))]).fit(X, y)
    pipeline.verify(X.sample(12, random_state=0))
    name = f"sklearn2pmml-{sklearn2pmml.__version__}-verified-tree.pmml"
    write(pipeline, str(CORPUS / "pmml" / name))
    return [{"file": f"pmml/{name}", "source": "written by tools/foreign/build_corpus.py with sklearn2pmml "
             f"{sklearn2pmml.__version__} (PMMLPipeline.verify)", "licence": "Apache-2.0 (this repository)"}]


def _versions(report: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in report.items() if k != "written")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, required=True, help="folder of fetched repository snapshots")
    parser.add_argument("--old-envs", type=Path, help="folder of virtual environments with older libraries")
    args = parser.parse_args()
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    entries = copy_pmml(args.mirrors) + write_verified_pmml() + write_generated(args.old_envs)
    sys.path.insert(0, str(ROOT / "tests"))
    from foreign.outcomes import outcome_of  # the same code the suite runs

    for entry in entries:
        entry.update(outcome_of(CORPUS / entry["file"]))
    manifest = {"about": "Model files other tools wrote; see docs/foreign-files.md and tools/foreign/build_corpus.py",
                "files": entries}
    (CORPUS / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(entries)} files; {sum(e['expect'] == 'scores' for e in entries)} scored")


if __name__ == "__main__":
    main()
