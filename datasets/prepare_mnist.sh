#!/usr/bin/env bash
# Kept for existing callers: `datasets/prepare_mnist.sh [OUT.h5]` is `datasets/prepare.sh mnist [OUT.h5]`
# (sources: $MNIST_IDX_DIR, else ../shared/datasets/mnist, else the official download; converter:
# $MNIST2H5 or build/mnist2h5). See datasets/prepare.sh --help.
exec bash "$(dirname "${BASH_SOURCE[0]}")/prepare.sh" mnist "$@"
