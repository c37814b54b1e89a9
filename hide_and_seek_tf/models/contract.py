"""The names every CAM model shares with the code that reads it (CAM, export, training config).

No TensorFlow import: the training config validates `pooling` without loading Keras.
"""

#: The layer whose output the global pooling reads: the maps F_i of CAM.
CAM_FEATURES = "cam_features"
#: The classifier `Dense` (float32 logits).
PREDICTIONS = "predictions"
#: Global pooling of the head: "avg" (GAP, the paper's model) or "max" (GMP, its ablation).
POOLINGS = ("avg", "max")
