"""Neural networks: the NumPy sigmoid-MSE net (Kim 2024) and the Keras MLP/CNN trainer (TensorFlow imported there only)."""
