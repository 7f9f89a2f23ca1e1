"""Native nodal solver behind the ``native`` backend (see ``xbarsim/backends/README.md``).

* :mod:`.mna` stamps the one :class:`~xbarsim.topology.Topology` into sparse nodal matrices.
* :mod:`.linear` turns a linear circuit into a dense transfer matrix (a batch = one matrix product).
* :mod:`.devices` holds the ngspice 39 DC equations of the diode and MOS1 cards and SPICE's limiting.
* :mod:`.newton` is the damped Newton-Raphson with SPICE convergence tests, gmin and source stepping.
* :mod:`.chord` solves nonlinear batches with one Jacobian factored per circuit (Newton as fallback).
* :mod:`.ordering` keeps fill-reducing orderings keyed by sparsity pattern (Monte-Carlo re-setup).
"""
