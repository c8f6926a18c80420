"""Docstring text shared by the masked convolutions."""

from keras_cv_layers.layers.convolutional.conv_docs import CONV_ARGS

BINARY_ARG = """        binary: bool. True: `mask_out = float(norm > eps)` (a hard mask);
            False: `mask_out = norm`, the fraction of valid inputs (a soft
            mask). The input mask is used as given in both cases (a float
            mask in [0, 1] weights the inputs). Default True.
"""

MASKED_ARGS = CONV_ARGS + BINARY_ARG

SHAPES = {1: "(1, 8, 2)", 2: "(1, 8, 8, 2)", 3: "(1, 5, 5, 5, 2)"}
MASK_SHAPES = {1: "(1, 8, 1)", 2: "(1, 8, 8, 1)", 3: "(1, 5, 5, 5, 1)"}
