"""Repeated subjects: one subject never on both sides of a fold (issue 15)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from markerflow.engines.roc import auc_rows
from markerflow.model.folds import stratified_folds
from markerflow.stages.candidates import single_gene_cv_auc
from markerflow.stages.cohorts import Cohort, load_cohort
from markerflow.stages.signature import logistic_signature


def _repeated_noise(seed, n_subjects=24, copies=3, genes=40):
    """Noise subjects measured ``copies`` times (small technical noise): any AUC above 0.5 out of
    fold is leakage between copies of a subject."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, (genes, n_subjects))
    x = np.repeat(base, copies, axis=1) + rng.normal(0, 0.05, (genes, n_subjects * copies))
    y = np.repeat(np.arange(n_subjects) % 2 == 0, copies)
    groups = np.repeat([f"p{i}" for i in range(n_subjects)], copies)
    cols = [f"s{i}" for i in range(x.shape[1])]
    return pd.DataFrame(x, index=[f"g{i}" for i in range(genes)], columns=cols), y, groups


def test_folds_keep_subjects_together():
    _, y, groups = _repeated_noise(0)
    for train, test in stratified_folds(y, groups, 5, seed=3):
        assert not set(groups[train]) & set(groups[test])
        assert y[test].any() and (~y[test]).any()


def test_single_gene_cv_auc_is_not_inflated_by_repeated_subjects():
    leaky, honest = [], []
    for seed in range(3):
        x, y, groups = _repeated_noise(seed, genes=200)
        leaky.append(single_gene_cv_auc(Cohort(x, y), list(x.index), seed=2).mean())
        honest.append(single_gene_cv_auc(Cohort(x, y, groups), list(x.index), seed=2).mean())
    # the copies of a test subject sit in the training part unless folds are grouped
    assert np.mean(leaky) > np.mean(honest) + 0.04
    assert abs(np.mean(honest) - 0.5) < 0.03


def test_logistic_out_of_fold_auc_is_not_inflated_by_repeated_subjects():
    leaky, honest = [], []
    kw = {"seed": 5, "max_genes": 10, "cs": np.logspace(-1, 1, 3)}
    for seed in range(10, 13):
        x, y, groups = _repeated_noise(seed, n_subjects=30, genes=30)
        _, a = logistic_signature({"A": Cohort(x, y)}, list(x.index), **kw)
        _, b = logistic_signature({"A": Cohort(x, y, groups)}, list(x.index), **kw)
        leaky.append(auc_rows(a["A"][None], y)[0])
        honest.append(auc_rows(b["A"][None], y)[0])
    assert np.mean(leaky) > np.mean(honest) + 0.15
    assert np.mean(honest) < 0.6


def test_load_cohort_reads_subjects():
    x, y, groups = _repeated_noise(2, n_subjects=4, copies=2, genes=3)
    sheet = pd.DataFrame({"sample": x.columns, "cohort": "C", "condition": np.where(y, "a", "b"),
                          "subject": groups})  # fmt: skip
    sheet.loc[0, "subject"] = None  # undeclared: its own subject
    cohort = load_cohort(x, sheet, "a", "b", name="C")
    assert cohort.groups.tolist()[:3] == ["C\ts0", "C\tp0", "C\tp1"]
    assert load_cohort(x, sheet.drop(columns="subject"), "a", "b").groups is None


def test_ingest_writes_the_declared_subject():
    from markerflow.io.study import CohortSpec
    from markerflow.stages.ingest import build_sample_sheet

    pheno = pd.DataFrame(
        {"status": ["PTB", "PTB", "PTB", "LTBI", "LTBI", "LTBI"],
         "PatientID": ["p1", "p1", "", "p2", "p3", "p4"]},
        index=pd.Index([f"GSM{i}" for i in range(6)], name="sample"),
    )  # fmt: skip
    spec = CohortSpec("C", "discovery", "matrix", "array", "status", ("PTB",), ("LTBI",),
                      subject_column="PatientID")  # fmt: skip
    sheet, _ = build_sample_sheet(pheno, spec, "case", "control")
    assert sheet["subject"].tolist() == ["p1", "p1", "GSM2", "p2", "p3", "p4"]
