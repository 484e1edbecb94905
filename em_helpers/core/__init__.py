"""The EM machinery: the loop, SQUAREM, the stopping rule, SEM, observed information, Louis.

Imports only numpy and scipy. Everything public is re-exported by :mod:`em_helpers`.
"""
