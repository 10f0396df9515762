"""The statistical model of a cohort: one design builder and one rank/confounding check, effect sizes."""
