"""Flask-Security's model modules, on authgate's mixins (see :mod:`authgate.flask_security`)."""
