"""TensorFlow fast paths (see `backend_kernels/__init__.py` for the contract).

No kernel of the foundation needs one yet; later kernels add theirs here.
"""
