"""JAX fast paths (see `backend_kernels/__init__.py` for the contract).

No kernel of the foundation needs one: XLA fuses the generic versions.
Later kernels (deformable sampling, argmax pooling, group-kernel expansion)
add theirs here.
"""
