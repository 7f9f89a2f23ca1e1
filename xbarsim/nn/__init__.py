"""Neural networks: the TensorFlow-free op set and forward pass (ops), the NumPy sigmoid-MSE net
(Kim 2024) and the Keras MLP/CNN trainer (TensorFlow imported there only)."""
