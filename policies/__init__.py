"""The CrossGuard policy pack of gke-serving: rules in policies.rules, the pack in __main__.py.

`policies.evaluate` runs the same policy objects over the offline preview's resources.
"""
