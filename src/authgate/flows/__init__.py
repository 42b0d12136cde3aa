"""Business rules, one module per use case.

Every flow is a plain function over a :class:`~authgate.context.Context`; the
Python API, the JSON API, the HTML pages and the CLI all call these.
"""
