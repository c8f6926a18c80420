"""``python -m keras_cv_layers {info,demo,bench}``: see `keras_cv_layers.cli`."""

from keras_cv_layers.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
