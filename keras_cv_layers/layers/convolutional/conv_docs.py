"""Argument documentation shared by the convolution docstrings."""

CONV_ARGS = """
        filters: int, the number of output channels.
        kernel_size: int or tuple of ints, the window size.
        strides: int or tuple of ints. Default 1.
        padding: `"valid"` or `"same"` (and `"causal"` for 1D), with the
            arithmetic of `keras.layers.ConvND`.
        data_format: `"channels_last"`, `"channels_first"` or None
            (`keras.config.image_data_format()`).
        dilation_rate: int or tuple of ints. Default 1.
        groups: int, number of channel groups (as in Keras). Default 1.
        activation: activation applied to the output. Default None.
        use_bias: bool. Default False.
        kernel_initializer: as in Keras; None (the default) is
            `"glorot_uniform"`, or `kcl.initializers.NormalInit()` when
            `equalize=True` (equalized learning rate needs unit-variance raw
            weights).
        bias_initializer, kernel_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, bias_constraint: as in Keras.
        weightnorm: bool, weight normalization
            `k = kernel / sqrt(sum(kernel**2) + eps) * wn_g` (sum over all
            axes but the last); adds the weight `wn_g` (filters,), ones.
        equalize: bool, equalized learning rate `k = kernel * sqrt(2 / fan_in)`
            with `fan_in = prod(kernel_size) * in / groups`. Cannot be combined
            with `weightnorm`.
        eps: float > 0, the epsilon of weight normalization. Default 1e-6.
"""
