"""Datasets: IDX loader (MNIST, Fashion-MNIST) and the binary digit glyphs of Kim et al. 2024."""
