"""The models the course runs, one module per family; import each by its path, e.g.
``from em_helpers.models import gmm`` or ``from em_helpers.models.examples import Moths``.

A model module supplies the pieces :func:`em_helpers.run_em` needs (``e_step``, ``m_step``,
``loglik``) and, where the notebooks use them, Q, information and simulation helpers.

Modules: ``examples`` (the essay's four models: exponential, moths, two Gaussians, two coins —
kept together because they share one interface, with Q, H, I_oc and score moments, and
notebook 05 runs all four side by side), ``poisson_mixture``, ``gmm``, ``gmm_noise``,
``normal_mixture``, ``hmm``, ``mvn_missing``, ``student_t``.
"""
