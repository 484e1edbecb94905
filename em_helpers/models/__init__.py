"""The models the course runs, one module per family; import each by its path, e.g.
``from em_helpers.models import gmm`` or ``from em_helpers.models.examples import Moths``.

A model module supplies the pieces :func:`em_helpers.run_em` needs (``e_step``, ``m_step``,
``loglik``) and, where the notebooks use them, Q, information and simulation helpers.
"""
