"""What older scikit-learn versions stored, read by this one: layouts upgraded where their meaning is
the same, and methods withheld or models refused where this version would answer otherwise. Every
rule was found by pickling every estimator of ``sklearn.utils.all_estimators()`` with scikit-learn
1.1.3 to 1.7.2 and scoring the pickles here (docs/foreign-files.md); each applies where its layout is
found, whichever version the file names.
"""

from __future__ import annotations

from typing import Any

from ..errors import UnsupportedModelError, UntrustedContentError


def upgrade(parts: list[Any], pickled_with: str, name: str) -> None:
    """Move what an older scikit-learn stored in another layout, with the same meaning, to this
    version's: tree values as fractions, renamed parameters, attributes added since whose value is
    known. (Tree nodes before 1.3, a few Cython and list classes, are upgraded while loading, by the
    pickle machine.) Each rule applies where the layout is found, whichever version it names.
    ``parts`` are the model's estimators (:func:`estimators_below`); ``name`` names the file in errors."""
    if before(pickled_with, (1, 4)):
        _tree_values_as_fractions(parts)
    _renamed_parameters(parts)
    _hist_gradient_boosting_without_categories(parts)
    _simple_imputers(parts)
    _encoders_without_infrequent_categories(parts)
    _column_transformers_passthrough(parts)
    _attributes_added_since(parts)
    _splines_of_an_older_scipy(parts)
    _gradient_boosting_losses(parts, name)


def _attributes_added_since(parts: list[Any]) -> None:
    """Attributes a later scikit-learn reads, which an older fit did not store, where their value is
    what the older code computed: RidgeClassifier(CV)'s classes_ (a property of its label binarizer
    until 1.8), KernelPCA's gamma_ (1 / n_features when gamma is None, computed at each transform),
    and parameters added since whose default is the old behaviour (MaxAbsScaler's clip, no clipping;
    SplineTransformer's handle_missing, an error, and sparse_output (1.2), dense; IterativeImputer's
    keep_empty_features, dropped, and the columns it drops, those whose initial statistic is NaN;
    KNNImputer's keep_empty_features, dropped; NearestCentroid's uniform class_prior_, with which its predict is the nearest centroid; and
    IsolationForest's per-tree path lengths, which 1.3's fit computes from the trees; and NMF's
    n_components="warn", which meant None)."""
    import numpy as np

    for est in parts:
        state, name = vars(est), type(est).__name__
        if name in ("RidgeClassifier", "RidgeClassifierCV") and "classes_" not in state and "_label_binarizer" in state:
            state["classes_"] = state["_label_binarizer"].classes_
        elif name == "KernelPCA" and "gamma_" not in state and "n_features_in_" in state:
            gamma = state.get("gamma")
            state["gamma_"] = 1 / state["n_features_in_"] if gamma is None else gamma
        elif name == "MaxAbsScaler":
            state.setdefault("clip", False)
        elif name == "SplineTransformer":
            state.setdefault("handle_missing", "error")
            state.setdefault("sparse_output", False)
        elif name == "KNNImputer":
            state.setdefault("keep_empty_features", False)
        elif name == "IterativeImputer" and "_is_empty_feature" not in state and "initial_imputer_" in state:
            # before 1.6 the columns it drops were those whose initial statistic is NaN; 1.6's fit keeps them
            state.setdefault("keep_empty_features", False)
            statistics = vars(state["initial_imputer_"]).get("statistics_")
            if not state["keep_empty_features"] and isinstance(statistics, np.ndarray):
                state["_is_empty_feature"] = np.isnan(statistics.astype(float))
        elif name in ("NMF", "MiniBatchNMF") and _is_string(state.get("n_components"), "warn"):
            state["n_components"] = None  # 1.4-1.5's placeholder for a changing default: None, and a warning
        elif name == "IsolationForest" and "_decision_path_lengths" not in state and "estimators_" in state:
            # before 1.3 each score walked the trees' decision paths; 1.3's fit keeps, per tree, what
            # those walks added up (node depths, average path lengths), computed here as it computes them
            from sklearn.ensemble._iforest import _average_path_length

            state["_average_path_length_per_tree"], state["_decision_path_lengths"] = zip(
                *[(_average_path_length(tree.tree_.n_node_samples), tree.tree_.compute_node_depths())
                  for tree in state["estimators_"]])
        elif name == "NearestCentroid" and "class_prior_" not in state and "classes_" in state:
            # priors came in 1.5; with uniform ones predict is the nearest centroid, as it always was
            state["class_prior_"] = np.full(len(state["classes_"]), 1 / len(state["classes_"]))
            state.setdefault("priors", "uniform")


#: GradientBoosting's loss names before 1.2/1.3, as 1.4 names them (``loss`` is read again by fit alone).
_OLD_LOSS_NAMES = {"deviance": "log_loss", "ls": "squared_error", "lad": "absolute_error"}


def _gradient_boosting_losses(parts: list[Any], name: str) -> None:
    """GradientBoosting before 1.4 kept its loss as an object of ``sklearn.ensemble._gb_losses``, which 1.4
    removed for ``sklearn._loss``'s (read as :class:`~modelpack.safety._guards.OldBoostingLoss`). At predict
    a loss gives the link between probabilities and the trees' sums: the same for each old loss and the
    one 1.4 uses in its place (logit, half-logit for the exponential loss, softmax, identity for regression),
    so the loss is replaced and ``n_trees_per_iteration_``, which 1.4 added, set from it. The initial
    predictions, which 1.4 computes differently for a classifier, are checked in :func:`changed_meaning`."""
    from ..safety._guards import OldBoostingLoss, Refused, check_gradient_boosting

    for est in parts:
        state = vars(est)
        old = state.get("_loss")
        if not isinstance(old, OldBoostingLoss):
            continue
        state["_loss"] = _loss_in_place_of(old)
        state["n_trees_per_iteration_"] = vars(old)["K"]
        state["loss"] = _OLD_LOSS_NAMES.get(state.get("loss"), state.get("loss"))  # type: ignore[arg-type]
        try:
            check_gradient_boosting(est)
        except Refused as exc:
            raise UntrustedContentError(f"{name}: a {type(est).__name__} from before scikit-learn 1.4 refused: {exc}") from None


def _loss_in_place_of(old: Any) -> Any:
    """The ``sklearn._loss`` object 1.4's fit makes where an older one made ``old`` (its ``_gb_losses`` loss)."""
    from sklearn._loss import loss as losses

    alpha = vars(old).get("alpha", 0.9)
    if old.name == "HuberLossFunction":
        return losses.HuberLoss(quantile=alpha)
    if old.name == "QuantileLossFunction":
        return losses.PinballLoss(quantile=alpha)
    if old.name == "MultinomialDeviance":
        return losses.HalfMultinomialLoss(n_classes=vars(old)["K"])
    return {"LeastSquaresError": losses.HalfSquaredError, "LeastAbsoluteError": losses.AbsoluteError,
            "BinomialDeviance": losses.HalfBinomialLoss, "ExponentialLoss": losses.ExponentialLoss}[old.name]()


def _splines_of_an_older_scipy(parts: list[Any]) -> None:
    """SplineTransformer's splines are scipy's BSpline objects, pickled as their attributes: before scipy
    1.15, ``t`` and ``c``; since, ``_t``, ``_c`` and the array namespace's ``_asarray``, which the old
    state lacks. Each is made again by BSpline's constructor, which checks knots and coefficients as it
    does for a fit, from the same arrays (``c`` already has its interpolation axis first, as stored)."""
    for est in parts:
        if type(est).__name__ != "SplineTransformer" or not isinstance(vars(est).get("bsplines_"), list):
            continue
        from scipy.interpolate import BSpline

        splines = vars(est)["bsplines_"]
        for i, spline in enumerate(splines):
            state = vars(spline) if isinstance(spline, BSpline) else {}
            if "_t" in state or not {"t", "c", "k"} <= state.keys():
                continue
            # the arguments the pickle machine's check made a BSpline from already (safety/_policy.py)
            remade = BSpline(state["t"], state["c"], state["k"], state.get("extrapolate", True), axis=0)
            remade.axis = state.get("axis", 0)
            splines[i] = remade


def _encoders_without_infrequent_categories(parts: list[Any]) -> None:
    """OrdinalEncoder gained infrequent categories in 1.3 (``_infrequent_enabled``), OneHotEncoder
    ``_drop_idx_after_grouping`` in 1.2. An encoder fitted before has no infrequent categories
    (``_infrequent_enabled`` False), and then drops after grouping what it drops (``drop_idx_``), as
    1.2's fit sets it. (One whose infrequent categories are enabled is not upgraded.)"""
    for est in parts:
        state, name = vars(est), type(est).__name__
        if name == "OrdinalEncoder" and "_infrequent_enabled" not in state:
            state["_infrequent_enabled"] = False
        if name == "OneHotEncoder" and "_drop_idx_after_grouping" not in state and "drop_idx_" in state \
                and state.get("_infrequent_enabled") is False:
            state["_drop_idx_after_grouping"] = state["drop_idx_"]


def _column_transformers_passthrough(parts: list[Any]) -> None:
    """Before 1.4, a fitted ColumnTransformer kept ``"passthrough"`` in ``transformers_`` and replaced it
    with this FunctionTransformer each time it transformed (1.2-1.3; 1.1 without the output settings);
    from 1.4 fit stores it, and transform takes whatever is stored as fitted."""
    for est in parts:
        fitted = vars(est).get("transformers_")
        if type(est).__name__ != "ColumnTransformer" or not isinstance(fitted, list) or \
                not any(isinstance(t, tuple) and len(t) == 3 and _is_string(t[1], "passthrough") for t in fitted):
            continue
        try:
            from sklearn.utils._set_output import _get_output_config

            dense = _get_output_config("transform", est)["dense"]
        except (ImportError, KeyError, TypeError):
            dense = "default"
        est.transformers_ = [
            (name, _identity_fitted_on(est, columns, dense), columns) if _is_string(trans, "passthrough")
            else (name, trans, columns)
            for name, trans, columns in fitted
        ]


def _identity_fitted_on(transformer: Any, columns: Any, dense: str) -> Any:
    """The FunctionTransformer 1.4's fit stores for "passthrough", as fitted on ``columns`` of the
    ColumnTransformer's input: it records their number and, for a DataFrame, their names."""
    import numpy as np
    from sklearn.preprocessing import FunctionTransformer

    identity = FunctionTransformer(accept_sparse=True, check_inverse=False, feature_names_out="one-to-one")
    identity.set_output(transform=dense)
    names = getattr(transformer, "feature_names_in_", None)
    if isinstance(columns, slice):
        columns = _sliced(columns, names, transformer.n_features_in_)
    picked = np.asarray(columns)
    if names is not None and picked.dtype.kind not in "iub":  # columns by name
        selected = picked.astype(object).reshape(-1)
    elif names is not None:
        selected = np.asarray(names, dtype=object)[picked].reshape(-1)
    else:
        selected = None
    if selected is not None:
        identity.feature_names_in_ = selected
    identity.n_features_in_ = int(len(selected)) if selected is not None else \
        int(np.count_nonzero(picked) if picked.dtype.kind == "b" else picked.size)
    return identity


def _sliced(columns: slice, names: Any, n_features: int) -> list[Any]:
    """The columns a slice selects, as a ColumnTransformer reads it: positions, or names from one to
    another, both included (as pandas' .loc)."""
    import numpy as np

    everything = list(names) if names is not None else list(range(n_features))
    if all(isinstance(b, (int, np.integer, type(None))) for b in (columns.start, columns.stop)):
        return everything[columns]
    start = everything.index(columns.start) if columns.start is not None else 0
    stop = everything.index(columns.stop) + 1 if columns.stop is not None else len(everything)
    return everything[start:stop:columns.step]


def _is_string(value: Any, text: str) -> bool:
    return isinstance(value, str) and value == text


def _simple_imputers(parts: list[Any]) -> None:
    """SimpleImputer gained keep_empty_features in 1.2 (before, empty features were always dropped:
    False) and _fill_dtype in 1.8, which its transform casts the statistics to and checks the input
    against; before, it checked against the statistics' own dtype and did not cast them, which is
    what _fill_dtype = statistics_.dtype does."""
    for est in parts:
        state = vars(est)
        if type(est).__name__ != "SimpleImputer":
            continue
        state.setdefault("keep_empty_features", False)
        statistics = state.get("statistics_")
        if "_fill_dtype" not in state and hasattr(statistics, "dtype"):
            state["_fill_dtype"] = statistics.dtype


# Parameters scikit-learn renamed, keeping their meaning, and later stopped reading by their old name,
# with the classes that had them: the ensembles' and CalibratedClassifierCV's base_estimator (estimator
# from 1.2; the old name read until 1.4), OneHotEncoder's sparse (sparse_output from 1.2, until 1.4).
# A model pickled before 1.2 has only the old attribute, and this scikit-learn fails on it
# ("'RandomForestRegressor' object has no attribute 'estimator'").
_RENAMED = (
    (("sklearn.ensemble._base.BaseEnsemble", "sklearn.calibration.CalibratedClassifierCV",
      "sklearn.calibration._CalibratedClassifier"),
     (("base_estimator", "estimator"), ("base_estimator_", "estimator_"))),
    (("sklearn.preprocessing._encoders.OneHotEncoder",), (("sparse", "sparse_output"),)),
)


def _renamed_parameters(parts: list[Any]) -> None:
    for est in parts:
        classes = {f"{c.__module__}.{c.__qualname__}" for c in type(est).__mro__}
        state = vars(est)
        for owners, names in _RENAMED:
            if classes.isdisjoint(owners):
                continue
            for old, new in names:
                if old not in state:
                    continue
                value = state[old]
                if isinstance(value, str) and value == "deprecated":  # 1.2-1.3: the new name holds it
                    continue
                if new not in state or (state[new] is None and value is not None):
                    state[new] = value  # None too: "the default estimator", under either name


def _hist_gradient_boosting_without_categories(parts: list[Any]) -> None:
    """HistGradientBoosting from 1.4 keeps a ``_preprocessor`` for categorical features, None when it has
    none, and predict reads it. A model fitted before, without categorical features, is the same model
    with it None, as 1.4's fit sets it. (With categorical features its categories were encoded otherwise:
    not upgraded, and refused in one line at predict.)"""
    for est in parts:
        state = vars(est)
        if type(est).__name__.startswith("HistGradientBoosting") and "_preprocessor" not in state \
                and "is_categorical_" in state and state["is_categorical_"] is None:
            state["_preprocessor"] = None
            state["_is_categorical_remapped"] = None


def version_way_out(name: str, version: str) -> str:
    """How to get a model out of a file that another scikit-learn wrote: load and convert it there."""
    return (f"load it where scikit-learn {version} is installed (pip install scikit-learn=={version}) "
            f"and convert it there (modelpack convert {name} -o model.onnx)")


def cannot_use(name: str, recorded: str, current: str, what: str) -> str:
    """That scikit-learn ``current`` cannot use ``what`` scikit-learn ``recorded`` stored, and the way out."""
    return (f"{name} was pickled with scikit-learn {recorded}, and scikit-learn {current} cannot use what it "
            f"stored ({what}); {version_way_out(name, recorded)}")


def changed_meaning(estimator: Any, parts: list[Any], pickled_with: str, name: str) -> dict[str, str]:
    """Methods of a model pickled with scikit-learn ``pickled_with`` that this scikit-learn would compute
    differently from it, with why (found by scoring pickles of every estimator from 1.1 to 1.7 in this
    one, tests/test_old_pickles.py). A model whose predict would change is refused here; one whose
    predict_proba alone would change keeps predict, and its predict_proba is withheld, saying why."""
    import sklearn

    current = sklearn.__version__
    way_out = version_way_out(name, pickled_with)
    last = _final_step(estimator)
    withheld: dict[str, str] = {}
    for part in parts:
        cls = type(part).__name__
        if cls == "AdaBoostClassifier" and vars(part).get("algorithm") == "SAMME.R" and not before(current, (1, 6)):
            raise UnsupportedModelError(
                f"{name} holds an AdaBoostClassifier fitted with algorithm='SAMME.R' (the default before scikit-learn "
                f"1.6) in scikit-learn {pickled_with}; scikit-learn {current} no longer implements SAMME.R and would "
                f"score it as SAMME, with other labels and probabilities; {way_out}")
        if cls == "AdaBoostClassifier" and before(pickled_with, (1, 3)) and not before(current, (1, 3)):
            why = ("an AdaBoostClassifier, whose probabilities scikit-learn 1.3 computes from its weighted votes "
                   "instead of its estimators' probabilities")
        elif _boosting_start_clipped_otherwise(part, pickled_with) and not before(current, (1, 4)):
            raise UnsupportedModelError(
                f"{name} holds a GradientBoostingClassifier from scikit-learn {pickled_with} whose initial "
                f"estimator can give probabilities within 1.2e-7 of 0 or 1, which scikit-learn 1.4 clips at 2.2e-16 "
                f"instead, so scikit-learn {current} would not score it as scikit-learn {pickled_with} did; {way_out}")
        elif _logistic_one_vs_rest(part, pickled_with):
            why = (f"a {cls} fitted one-vs-rest (multi_class='ovr', or liblinear's default), whose probabilities "
                   "scikit-learn 1.8 computes with a softmax instead")
        else:
            continue
        if part is not last:  # inside an ensemble, a changed predict_proba can change predict
            raise UnsupportedModelError(f"{name} holds {why}, so scikit-learn {current} would not score it as "
                                        f"scikit-learn {pickled_with} did; {way_out}")
        withheld["predict_proba"] = (
            f"{name} holds {why}: scikit-learn {current} would not give the probabilities scikit-learn "
            f"{pickled_with} gave (predict is unaffected); for them, {way_out}")
    return withheld


def _boosting_start_clipped_otherwise(part: Any, pickled_with: str) -> bool:
    """A GradientBoostingClassifier pickled before 1.4, whose trees add up from the log-odds of its initial
    estimator's probabilities, clipped to float32's epsilon from 0 and 1 before 1.4 and to float64's since:
    the same start unless those probabilities come that close. A prior (the default) is checked; any other
    initial estimator may come that close on some row."""
    if type(part).__name__ != "GradientBoostingClassifier" or not before(pickled_with, (1, 4)):
        return False
    start = vars(part).get("init_")
    if isinstance(start, str):
        return False  # "zero": no initial estimator
    if type(start).__name__ == "DummyClassifier" and vars(start).get("_strategy") == "prior":
        import numpy as np

        prior, eps = np.asarray(vars(start).get("class_prior_"), dtype=float), np.finfo(np.float32).eps
        return bool(np.any((prior < eps) | (prior > 1 - eps)))
    return True


def _final_step(estimator: Any) -> Any:
    """What answers predict_proba for ``estimator``: itself, or the last step of its (nested) pipelines."""
    while type(estimator).__name__ == "Pipeline" and getattr(estimator, "steps", None):
        estimator = estimator.steps[-1][1]
    return estimator


def _logistic_one_vs_rest(part: Any, pickled_with: str) -> bool:
    """A multiclass LogisticRegression(CV) that the version that pickled it scored one-vs-rest, where this
    scikit-learn has no multi_class any more and scores every multiclass one with a softmax."""
    from sklearn.linear_model import LogisticRegression

    if not isinstance(part, LogisticRegression) or len(getattr(part, "classes_", ())) <= 2:
        return False
    import inspect

    if "multi_class" in inspect.signature(type(part)).parameters:
        return False  # this scikit-learn still honours it
    state = vars(part)
    multi_class, solver = state.get("multi_class", "auto"), state.get("solver")
    if multi_class == "ovr":
        return True
    if multi_class == "multinomial":
        return False
    # "auto" (or 1.5-1.7's "deprecated"): one-vs-rest for liblinear, and for newton-cholesky before 1.6
    return solver == "liblinear" or (solver == "newton-cholesky" and before(pickled_with, (1, 6)))


def _tree_values_as_fractions(parts: list[Any]) -> None:
    """Classifier trees pickled before scikit-learn 1.4 store class counts in ``tree_.value``;
    1.4 and later store fractions and no longer divide (scikit-learn's __setstate__ drops the
    recorded version, so the caller passes it through its version warning). Loaded as they are, their
    predict_proba (and a forest's) would return counts: 50.0 for a probability of 1. Dividing
    each node's counts by their sum gives exactly what the version that wrote them computed."""
    import numpy as np

    for est in parts:
        tree = getattr(est, "tree_", None)
        if tree is None or not hasattr(est, "n_classes_"):
            continue
        value = tree.value
        totals = value.sum(axis=2, keepdims=True)
        if value.flags.writeable and np.any(totals > 1 + 1e-9):
            np.divide(value, totals, out=value, where=totals > 0)


def before(version: Any, release: tuple[int, int]) -> bool:
    try:
        return tuple(int(p) for p in str(version).split(".")[:2]) < release
    except ValueError:
        return False


def estimators_below(root: Any, limit: int = 100_000) -> list[Any]:
    """Every estimator reachable from ``root`` through attributes, lists, tuples and dicts."""
    import numpy as np

    found: list[Any] = []
    seen: set[int] = set()
    stack: list[Any] = [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
        elif hasattr(obj, "__dict__") and type(obj).__module__.split(".")[0] in ("sklearn", "imblearn"):
            found.append(obj)
            stack.extend(vars(obj).values())
    return found
